"""nbgrader settings of the instructor's account: the course directory is ~/mixed-models.

The formgrader runs on the instructor's own server (nbgrader's "one class, one grader"),
whose root is the home directory; the course directory must lie inside it. The course's own
nbgrader_config.py (source = solutions, release = exercises, timeouts) is loaded from there.
"""
import os

c = get_config()  # noqa: F821

course_root = os.environ.get("MM_COURSE_ROOT", os.path.expanduser("~/mixed-models"))
c.CourseDirectory.root = course_root
if os.path.isfile(os.path.join(course_root, "nbgrader_config.py")):
    load_subconfig(os.path.join(course_root, "nbgrader_config.py"))  # noqa: F821
