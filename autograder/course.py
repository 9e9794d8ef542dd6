"""The course as nbgrader sees it: its configuration (autograder/nbgrader_config.py), its folders
(source/, release/, submitted/, autograded/, feedback/) and its gradebook, shared by every command.

    Course()              the course directory, nbgrader's API and the gradebook
    load_config()         nbgrader's configuration of this course
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from autograder.errors import UsageError

CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"
STUDENT_ID = re.compile(r"^[^\W_][\w.-]{0,63}$")  # Unicode letters and digits, ._-
# Default: the student id is the file name without ".ipynb", or the name of the folder holding it.
DEFAULT_PATTERN = r"^(?P<student>[^/]+?)(?:\.ipynb)?$"


def load_config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()


def _ensure_bin_on_path() -> None:
    """nbgrader calls `alembic` (and kernels call `python`) by name: put our venv's bin/ first."""
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


class Course:
    """The course directory as nbgrader sees it (root, source/, release/, submitted/...)."""

    def __init__(self, config=None):
        _ensure_bin_on_path()
        from nbgrader.apps.api import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        self.config = config if config is not None else load_config()
        self.coursedir = CourseDirectory(config=self.config)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=self.config)
        self.root = Path(self.coursedir.root)

    def dir(self, kind: str, *parts: str) -> Path:
        name = getattr(self.coursedir, f"{kind}_directory")
        return self.root.joinpath(name, *parts)

    def assignments(self) -> list[str]:
        src = self.dir("source")
        return sorted(p.name for p in src.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))

    def check_assignment(self, a: str) -> None:
        if a not in self.assignments():
            raise UsageError(
                f"no assignment {a!r} in {self.dir('source')}; the course has: "
                f"{', '.join(self.assignments()) or 'none'}"
            )

    def submitted_students(self, a: str) -> list[str]:
        sub = self.dir("submitted")
        if not sub.is_dir():
            return []
        return sorted(p.name for p in sub.iterdir() if (p / a).is_dir())

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.coursedir.db_url, course_id=self.coursedir.course_id)


def _progress(items, desc: str, total: int | None = None):
    try:
        from tqdm.auto import tqdm

        # disable=None: off when not a TTY
        return tqdm(items, desc=desc, unit="student", disable=None, total=total)
    except ImportError:  # pragma: no cover
        return items


def _fail(result: dict, what: str) -> None:
    if not result.get("success"):
        log = (result.get("log") or "").strip()
        err = (result.get("error") or "").strip()
        raise UsageError(f"{what} failed.\n{log}\n{err}".strip())
