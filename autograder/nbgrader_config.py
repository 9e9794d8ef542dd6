"""nbgrader configuration of the DLCV course.

The course root is found from this file itself (the repository that holds it), so the same
config works in any clone. DLCV_COURSE_ROOT overrides it: the tests grade in a scratch copy.
Use it with our command line (`python -m autograder ...`, `make release` / `make grade`), or with
nbgrader directly: `nbgrader generate_assignment a1_knn_linear --config autograder/nbgrader_config.py`.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

root = Path(os.environ.get("DLCV_COURSE_ROOT") or Path(__file__).resolve().parent.parent)

c.CourseDirectory.root = str(root)
c.CourseDirectory.course_id = "dlcv"
c.CourseDirectory.source_directory = "assignments"  # the nbgrader source notebooks
c.CourseDirectory.release_directory = "release"  # generated student editions (git-ignored)
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# SQLite by default; any SQLAlchemy URL works (e.g. postgresql://user@host/dlcv) via DLCV_GRADEBOOK.
c.CourseDirectory.db_url = os.environ.get("DLCV_GRADEBOOK", f"sqlite:///{root / 'gradebook.db'}")
# The jupytext .py twin of a source notebook holds the solutions: it must never be released.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py",
                            "*.md~", ".DS_Store"]

# The stub students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding: every cell gets a time limit, and one failing cell never stops the notebook.
c.Execute.timeout = 180
c.Execute.interrupt_on_timeout = True

# nbgrader's exchange (hand-out / hand-in through a shared folder on one server), kept in the course.
c.Exchange.root = str(root / "exchange")

# Feedback: grades, then hidden tests removed (source and tracebacks), then the page style.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from autograder.feedback import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
