"""nbgrader settings shared by every account of the hub (students and instructors).

The hub's spawner puts this folder on JUPYTER_CONFIG_PATH (deploy/jupyterhub_config.py).
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when this file is loaded)

c.CourseDirectory.course_id = "mixed-models"
# The shared exchange: world-writable with the sticky bit (deploy/setup.sh makes it). nbgrader
# makes the course's inbound/ write-only for students (0733) and names each submission with a
# random suffix, so a student can neither list nor guess another student's submission.
c.Exchange.root = os.environ.get("MM_EXCHANGE", "/srv/nbgrader/exchange")
