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
# The sandbox's report next to each autograded notebook (*.sandbox.json) is for the log, not feedback.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py",
                            "*.md~", ".DS_Store", "*.sandbox.json"]

# The stub students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding runs every submission in a bubblewrap sandbox (autograder/sandbox.py) in place of
# nbgrader's unsandboxed Execute: every cell gets a time limit, the notebook a wall-clock limit,
# the kernel memory / CPU / file-size / process limits; one failing cell never stops the notebook.
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
                            AssignLatePenalties,
                            ClearOutput,
                            DeduplicateIds,
                            IgnorePattern,
                            LimitOutput,
                            OverwriteCells,
                            OverwriteKernelspec,
)

from autograder.integrity import IntegrityCheck
from autograder.nbgrader_steps import CheckCellMetadataOnce, SaveAutoGradesOnce
from autograder.sandbox import SandboxedExecute
from autograder.sandbox_run import Limits
from autograder.term import LatePenalty
from autograder.written import DropGraderNotes, GraderNotes

# Sanitize (before the run): nbgrader's own steps restore locked and test cells from the gradebook;
# IntegrityCheck first records what they will repair (edited, deleted, duplicated, renamed cells).
# nbgrader's SaveAutoGrades and CheckCellMetadata, with the same results, cheaper
# (autograder/nbgrader_steps.py: one gradebook commit per notebook, a schema validator built once).
c.Autograde.sanitize_preprocessors = [ClearOutput, IntegrityCheck, DeduplicateIds, OverwriteKernelspec,
                                      OverwriteCells, CheckCellMetadataOnce]
c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGradesOnce, AssignLatePenalties,
                                       CheckCellMetadataOnce, GraderNotes]
# GraderNotes (autograder/written.py): after each written answer, the source edition's model answer
# and rubric, for the grader in the formgrader; feedback drops them (DropGraderNotes below).
# Only on a trusted developer machine without bubblewrap: DLCV_SANDBOX=0 runs kernels unsandboxed
# (same limits). With the sandbox on and bwrap unable to run, grading stops with an error.
c.SandboxedExecute.sandbox = os.environ.get("DLCV_SANDBOX", "1") != "0"
# The limits (seconds per cell and per notebook, memory, file size, processes, output, /tmp) are
# written once, in autograder/sandbox_run.py (Limits, and course_limits(), which grows them when
# CIFAR-10 is in the course's data folder). To change one for your course, set it here, e.g.
#   c.SandboxedExecute.timeout = 300  # seconds per cell
c.Execute.timeout = Limits.cell_timeout  # nbgrader's own Execute, if someone puts it back

# The term (autograder/term.py): due dates (written into nbgrader's gradebook by every command),
# extensions in hours, and the late policy (an nbgrader late-submission plugin; its penalty is
# reassessed on the final score, written answers included, whenever feedback or grades are written).
c.Term.due = {}  # e.g. {"a1_knn_linear": "2027-02-05 23:59:00 +01:00"}
c.Term.extensions = {}  # e.g. {"a1_knn_linear": {"ada": 48}}
c.AssignLatePenalties.plugin_class = LatePenalty
c.LatePenalty.percent_per_day = 10.0  # of the score, per started day late
c.LatePenalty.grace_minutes = 15.0
c.LatePenalty.zero_after_days = 7.0

# nbgrader's exchange (hand-out / hand-in through a shared folder on one server), kept in the course.
c.Exchange.root = str(root / "exchange")

# Feedback: grades, then hidden tests removed (source and tracebacks), then the page style.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbgrader.preprocessors import GetGrades

from autograder.feedback import HideHiddenTests, InertOutputs

# Student outputs in the feedback are inert (no HTML, script or widget outputs; every text
# capped) and Markdown cells keep only harmless tags and attributes (no script, no on* handler,
# no javascript: link): a student's notebook never runs code in the browser that opens it.
c.GenerateFeedback.preprocessors = [DropGraderNotes, GetGrades, HideHiddenTests, InertOutputs, SanitizeHTML,
                                    CSSHTMLHeaderPreprocessor]
c.SanitizeHTML.tags = ["a", "abbr", "b", "blockquote", "br", "code", "details", "em", "h1", "h2", "h3",
                       "h4", "i", "li", "ol", "p", "pre", "strong", "sub", "summary", "sup", "table",
                       "tbody", "td", "th", "thead", "tr", "ul"]
c.SanitizeHTML.attributes = {"a": ["href", "title"], "abbr": ["title"]}
c.SanitizeHTML.enabled = True  # nbconvert's preprocessors are off until enabled
c.HTMLExporter.sanitize_html = True
