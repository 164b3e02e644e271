"""nbgrader configuration: this repository is an nbgrader course directory.

    solutions/<assignment>/<assignment>.ipynb   instructor versions (solutions, visible and hidden tests)
    exercises/<assignment>/<assignment>.ipynb   student versions, made by `nbgrader generate_assignment`

Run nbgrader commands from the repository root, e.g.

    .venv/bin/nbgrader generate_assignment "*" --force
    .venv/bin/nbgrader autograde prerequisites

The exchange directory (where released assignments and submissions travel) is
not set here: nbgrader's default is /srv/nbgrader/exchange. Set `Exchange.root`
in your own ~/.jupyter/nbgrader_config.py or pass `--Exchange.root=...`.
"""

import os

c = get_config()  # noqa: F821  (provided by traitlets when this file is loaded)

c.CourseDirectory.course_id = "mixed-models"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Autograding executes every submission top to bottom. A cell that runs longer
# than this (an endless loop, say) is interrupted and recorded as an error; the
# remaining cells still run, so the student keeps the marks they earned.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Test cells a student deleted are put back from the gradebook before grading
# (edited test cells are always overwritten with the instructor's version).
c.OverwriteCells.add_missing_cells = True

# Student versions replace each solution region with this stub.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
