"""The instructor's command line, around nbgrader.

    python -m autograder release   A            student edition in release/A/ and release/A.zip
                                                (never over an edited file: --force backs it up)
    python -m autograder start     A            a self-learner's working copy: mywork/A/
    python -m autograder clean                  remove what can be made again (keeps work)
    python -m autograder collect   A PATH       a folder or zip of submissions -> submitted/
                                                (what it did: exports/A/collect_log.csv)
    python -m autograder autograde A [PATH]     (collect PATH, then) grade every submission
    python -m autograder feedback  A            feedback/<student>/A/*.html
    python -m autograder export    A            exports/A/grades.csv, report.md, histogram.png
    python -m autograder grade     A [PATH]     (collect +) autograde + feedback + export

autograde and grade take --workers N (N sandboxed executions at a time) or --scheduler ADDRESS
(a Dask cluster's); the gradebook is always written by this one process.

Every step can be run again: it redoes its work from the inputs (nbgrader's --force). One bad
submission never stops a batch: each one ends graded or with its reason recorded in
exports/A/autograde_log.csv (and each notebook or student folder found by collect ends collected
or skipped with its reason, in exports/A/collect_log.csv); the report shows both.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import nbformat

from autograder import notebooks as nbs
from autograder import rules, workspace
from autograder.errors import UsageError
from autograder.report import csv_cell

CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"
STUDENT_ID = re.compile(r"^[^\W_][\w.-]{0,63}$")  # Unicode letters and digits, ._-
# Default: the student id is the file name without ".ipynb", or the name of the folder holding it.
DEFAULT_PATTERN = r"^(?P<student>[^/]+?)(?:\.ipynb)?$"


# ------------------------------------------------------------------------------------------
# nbgrader plumbing
# ------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------
# release
# ------------------------------------------------------------------------------------------
def _defined(source: str) -> set[str]:
    """Top-level functions and classes a cell defines (nothing, when it does not parse)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def given_answers(course: Course, a: str) -> list[str]:
    """Warnings: the given (locked) cells of `a` that define what another assignment's students
    write themselves (a3's given layers are a2's answers): handing out `a` hands those out."""
    def cells(x):
        src = course.dir("source", x, f"{x}.ipynb")
        return nbs.read(src).cells if src.is_file() else []

    def meta(c):
        return c.get("metadata", {}).get("nbgrader", {}) or {}

    answers = {x: set().union(*[_defined(c.source) for c in cells(x) if meta(c).get("solution")])
               for x in course.assignments() if x != a}
    out = []
    for c in cells(a):
        m = meta(c)
        if c.cell_type != "code" or m.get("solution") or m.get("grade") or not m.get("locked"):
            continue
        given = _defined(c.source)
        for other, names in sorted(answers.items()):
            both = sorted(given & names)
            if both:
                out.append(f"{a}'s given cell {m.get('grade_id')!r} holds {other}'s answers "
                           f"({', '.join(both)}): hand {a} out only after {other} is due")
    return out


def release(course: Course, a: str, force: bool = False) -> Path:
    """Generate the student edition (release/A/) and a zip of it to hand out (release/A.zip).

    A file of release/A/ that changed since the last release (someone worked in it) is never
    replaced: the release stops, or with force that file is first moved to mywork/backups/
    (autograder/workspace.py)."""
    course.check_assignment(a)
    for warning in given_answers(course, a):
        print(f"warning: {warning}")
    tests = hidden_tests(course, a).load()
    out = course.dir("release", a)
    workspace.guard_release(course.root, out, a, force)
    _fail(course.api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
    for path in out.glob("*.ipynb"):  # the public rules, for the self-check (autograder/rules.py)
        nb = nbs.read(path)
        nb.metadata.setdefault("dlcv", {})["grading"] = rules.public(tests)
        nbformat.write(nb, str(path))
    leaked = [p for p in out.rglob("*.py")]
    if leaked:  # the jupytext twins hold solutions; the config ignores them, check anyway
        raise UsageError(f"refusing to release: {', '.join(map(str, leaked))} would ship solutions")
    workspace.record(out)
    zpath = course.dir("release", f"{a}.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(out.rglob("*")):
            if p.is_file() and p.name != workspace.MANIFEST:
                z.write(p, Path(a) / p.relative_to(out))
    print(f"released {a}: {out} and {zpath}")
    return out


def start(course: Course, a: str) -> Path:
    """A self-learner's working copy of A's student edition in mywork/A/ (released first when
    release/A/ is missing); a file already there is never replaced."""
    course.check_assignment(a)
    released = course.dir("release", a)
    if not (released / f"{a}.ipynb").is_file():
        release(course, a)
    return workspace.start(course.root, released, a)


def clean(course: Course) -> None:
    """Remove what the course makes again; keep edited notebooks, submissions and the gradebook."""
    workspace.report_clean(course.root, course.coursedir.release_directory)


# ------------------------------------------------------------------------------------------
# collect
# ------------------------------------------------------------------------------------------
@dataclass
class Collected:
    student: str
    source: str
    status: str  # "collected" or "skipped: <reason>"
    note: str = ""  # for a collected notebook: renamed, extra files left out


_JUNK = ("__MACOSX", ".ipynb_checkpoints")  # never a student's, never a submission
_JUNK_FILES = (".DS_Store", "Thumbs.db", "desktop.ini")


def _candidates(folder: Path) -> tuple[list[tuple[str, Path, Path | None]], list[tuple[str, Path]]]:
    """What a folder of submissions holds: (name used for the student id, notebook path, the
    student's folder or None) for every notebook, and (name, folder) for every top-level folder
    without a notebook.

    A notebook directly in the folder is named by its file name; a notebook inside a
    sub-folder is named by the sub-folder (nbgrader's own submitted/<student>/ layout, and the
    layout of most LMS downloads once unzipped)."""
    found = []
    for p in sorted(folder.rglob("*.ipynb")):
        rel = p.relative_to(folder)
        if any(part in _JUNK for part in rel.parts) or p.name.startswith("."):
            continue
        found.append((rel.parts[0], p, folder / rel.parts[0]) if len(rel.parts) > 1 else (p.name, p, None))
    with_notebooks = {f for _, _, f in found if f is not None}
    empty = [(d.name, d) for d in sorted(folder.iterdir())
             if d.is_dir() and d not in with_notebooks and d.name not in _JUNK and not d.name.startswith(".")]
    return found, empty


def _unwrap(folder: Path) -> Path:
    """The folder that holds the submissions: a zip (or folder) whose only content is one folder
    holding no notebook itself but several notebooks or folders ("all-submissions/jane/...") is
    looked into, so that the students are its sub-folders, not the wrapper."""
    while True:
        inside = [p for p in folder.iterdir() if p.name not in _JUNK and not p.name.startswith(".")]
        if len(inside) != 1 or not inside[0].is_dir():
            return folder
        below = [p for p in inside[0].iterdir() if p.name not in _JUNK and not p.name.startswith(".")]
        if any(p.suffix == ".ipynb" for p in below) or \
                sum(p.is_dir() or p.suffix == ".ipynb" for p in below) < 2:
            return folder
        folder = inside[0]


def _files(folder: Path, skip: set[Path] = frozenset()) -> list[str]:
    """The files in a student's folder (relative names), without junk and without `skip`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p not in skip and p.name not in _JUNK_FILES
                  and not any(part in _JUNK for part in p.relative_to(folder).parts))


def _listing(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def student_id(regex: re.Pattern, name: str) -> tuple[str | None, str | None]:
    """(student id, None) read from a file or folder name, or (what was read, why it cannot be
    used). Ids are Unicode, NFC-normalised (the same name typed on macOS and on Linux is the same
    student): letters and digits of any script, '.', '_' and '-', at most 64 characters."""
    m = regex.search(name)
    raw = m.group("student") if m else None
    if not raw:
        return None, f"cannot read a student id from {name!r}"
    sid = unicodedata.normalize("NFC", raw)
    if not STUDENT_ID.match(sid):
        return sid, (f"cannot read a student id from {name!r}: {sid!r} is not usable as one "
                     "(letters, digits, '.', '_' and '-' only, at most 64, not starting with '.' "
                     "or '-'); give --pattern to read the id")
    return sid, None


def collect(course: Course, a: str, path: str | Path, pattern: str = DEFAULT_PATTERN) -> list[Collected]:
    """Copy submissions (a folder or a zip, one notebook per student) into
    submitted/<student>/A/<notebook>.ipynb with a timestamp.txt.

    `pattern` is a regular expression with a named group `student`, matched against the file
    name (or the sub-folder name); e.g. for Moodle-style names "Jane Doe_12345_assignsubmission_
    file_a1.ipynb" use r"^[^_]+_(?P<student>\\d+)_".

    Every notebook and every student folder ends collected or skipped with its reason; a
    collected one may carry a note (renamed to the assignment's notebook name, extra files left
    out). All of it is printed, and written to exports/A/collect_log.csv for the report (a folder
    without a notebook is not added to the class: it may be no student's; a student of the class
    list whose folder holds no notebook is "missing" in the grades, with the reason).
    """
    course.check_assignment(a)
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no submissions at {path}")
    regex = re.compile(pattern)
    if "student" not in regex.groupindex:
        raise UsageError("the pattern needs a named group (?P<student>...)")
    source_nbs = sorted(p.name for p in course.dir("source", a).glob("*.ipynb"))
    results: list[Collected] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = path
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise UsageError(f"{path} is neither a folder nor a zip file")
            results += _extract_zip(path, Path(tmp))
            folder = Path(tmp)
        top, folder = folder, _unwrap(folder)
        rel = lambda p: str(p.relative_to(top))
        found, empty = _candidates(folder)
        by_student: dict[str, list[tuple[Path, Path | None]]] = {}
        inside = folder.resolve()
        for name, nb, sfolder in found:
            if nb.is_symlink() or not nb.resolve().is_relative_to(inside):
                results.append(Collected(name, rel(nb), "skipped: a link, not a notebook"))
                continue
            student, why = student_id(regex, name)
            if why:
                results.append(Collected(student or name, rel(nb), f"skipped: {why}"))
                continue
            by_student.setdefault(student, []).append((nb, sfolder))
        for name, sfolder in empty:
            student, why = student_id(regex, name)
            files = _files(sfolder)
            holds = f" (it holds {_listing(files)})" if files else " (it is empty)"
            results.append(Collected(student or name, rel(sfolder) + "/",
                                     f"skipped: no notebook in {name}/{holds}" + (f"; {why}" if why else "")))
        for student, entries in sorted(by_student.items()):
            results += _collect_student(course, a, student, entries, source_nbs, rel)
    _note_lookalikes(results)
    write_collect_log(course, a, results)
    ok = [r for r in results if r.status == "collected"]
    skipped = [r for r in results if r.status != "collected"]
    no_nb = sum("no notebook" in r.status for r in skipped)
    print(f"collected {len(ok)} submission(s) of {a}" +
          (f", skipped {len(skipped)}" + (f" ({no_nb} folder(s) without a notebook)" if no_nb else "")
           if skipped else "") +
          (f", {sum(bool(r.note) for r in ok)} with a note" if any(r.note for r in ok) else ""))
    for r in results:
        if r.status != "collected":
            print(f"  {r.source}: {r.status}")
        elif r.note:
            print(f"  {r.source}: collected for {r.student}; {r.note}")
    return results


ZIP_MAX_BYTES = 4 * 2**30  # what a zip of submissions may hold once unpacked
ZIP_MAX_RATIO = 200  # unpacked / packed size: a larger ratio is a zip bomb, not notebooks


def _extract_zip(path: Path, dest: Path) -> list[Collected]:
    """Unpack an LMS zip into dest, safely. The whole zip is refused (UsageError) when it would
    unpack to more than ZIP_MAX_BYTES or more than ZIP_MAX_RATIO times its size; every entry that
    is not extracted (a path leading outside, an absolute path, a link or device) is returned as
    skipped, with why, for collect_log.csv. Each file keeps the zip's time stamp."""
    import stat

    skipped: list[Collected] = []
    root = dest.resolve()
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        packed = max(path.stat().st_size, 1)
        if total > ZIP_MAX_BYTES or total > ZIP_MAX_RATIO * packed:
            raise UsageError(
                f"refusing {path.name}: it would unpack to {total / 2**20:,.0f} MB from "
                f"{packed / 2**20:,.1f} MB (limits: {ZIP_MAX_BYTES / 2**30:g} GB, {ZIP_MAX_RATIO}x); "
                "unpack it yourself and collect the folder if it is genuine")
        for info in infos:
            name = info.filename
            mode = (info.external_attr >> 16) & 0o170000
            why = None
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
                why = "an absolute path"
            elif not (dest / name).resolve().is_relative_to(root) or ".." in Path(name).parts:
                why = "a path leading outside the zip's folder"
            elif mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                why = "a link or a special file"
            if why:
                skipped.append(Collected(Path(name).name or name, name, f"skipped: zip entry is {why}"))
                continue
            z.extract(info, dest)
            target = dest / name
            if target.is_file():
                ts = dt.datetime(*info.date_time).timestamp()
                os.utime(target, (ts, ts))
    return skipped


# Letters of other scripts that look like Latin ones (the usual confusables of student ids).
_LOOKALIKE = str.maketrans("аеорсухіјѕԁɡοαυνρτκβмнтвℓ", "aeopcyxijsdgoauvptkbmhtbl")


def _skeleton(sid: str) -> str:
    """What an id looks like: NFKC (fullwidth digits are digits), case folded, look-alike
    letters of other scripts mapped to the Latin ones."""
    return unicodedata.normalize("NFKC", sid).casefold().translate(_LOOKALIKE)


def _note_lookalikes(results: list[Collected]) -> None:
    """Collected ids that look the same (alice / Cyrillic аlice, 123 / fullwidth １２３) are
    different students and stay so; each gets a note naming the other, for a person to check."""
    by_look: dict[str, list[Collected]] = {}
    for r in results:
        if r.status == "collected":
            by_look.setdefault(_skeleton(r.student), []).append(r)
    for group in by_look.values():
        ids = sorted({r.student for r in group})
        if len(ids) < 2:
            continue
        for r in group:
            others = ", ".join(repr(i) for i in ids if i != r.student)
            note = f"looks like student {others} (not merged: check by hand)"
            r.note = f"{r.note}; {note}" if r.note else note


def _collect_student(course: Course, a: str, student: str, entries: list[tuple[Path, Path | None]],
                     source_nbs: list[str], rel) -> list[Collected]:
    """Copy one student's notebooks: the newest one per notebook of the assignment (an assignment
    with one notebook takes it whatever its name, and says so)."""
    out: list[Collected] = []
    # Several notebooks from one student (re-submissions): the newest one counts.
    entries = sorted(entries, key=lambda e: (e[0].stat().st_mtime, e[0].name))
    chosen: dict[str, tuple[Path, Path | None]] = {}  # the assignment's notebook -> what is graded
    superseded: list[tuple[Path, str]] = []
    for nb, sfolder in entries:
        if nb.name in source_nbs:
            target = nb.name
        elif len(source_nbs) == 1:
            target = source_nbs[0]
        else:
            out.append(Collected(student, rel(nb), f"skipped: {nb.name} is none of the assignment's "
                                                   f"notebooks ({', '.join(source_nbs)})"))
            continue
        if target in chosen:
            superseded.append((chosen[target][0], target))
        chosen[target] = (nb, sfolder)
    for older, target in superseded:
        out.append(Collected(student, rel(older),
                             f"skipped: older than {chosen[target][0].name}, which was collected"))
    dest = course.dir("submitted", student, a)
    if chosen:
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
    newest = 0.0
    for target, (nb, sfolder) in sorted(chosen.items()):
        shutil.copyfile(nb, dest / target)
        newest = max(newest, nb.stat().st_mtime)
        notes = []
        if nb.name != target and sfolder is not None:  # the student named it: say so
            notes.append(f"renamed: {nb.name} was graded as {target}")
        if sfolder is not None and target == min(chosen):  # extra files: once per student
            extra = _files(sfolder, {n for n, _ in entries})
            if extra:
                notes.append(f"extra files not graded: {_listing(extra)}")
        out.append(Collected(student, rel(nb), "collected", "; ".join(notes)))
    if chosen:
        stamp = dt.datetime.fromtimestamp(newest, tz=dt.UTC)
        (dest / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    return out


COLLECT_COLUMNS = ["student_id", "source", "status", "note"]


def _collect_log_path(course: Course, a: str) -> Path:
    return course.root / "exports" / a / "collect_log.csv"


def write_collect_log(course: Course, a: str, results: list[Collected]) -> Path:
    path = _collect_log_path(course, a)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLLECT_COLUMNS)
        w.writerows([csv_cell(x) for x in (r.student, r.source, r.status, r.note)] for r in results)
    return path


# ------------------------------------------------------------------------------------------
# autograde / feedback / export
# ------------------------------------------------------------------------------------------
def hidden_tests(course: Course, a: str):
    """The assignment's trusted hidden tests (autograder.hidden.Spec), loaded once here so that a
    mistake in them stops grading before the first student, with a clear message."""
    from autograder.hidden import HIDDEN_TESTS_FILE, Spec

    spec = Spec.find(course.root, a)
    if spec is None:
        raise UsageError(
            f"{a} has no assignments/{a}/{HIDDEN_TESTS_FILE}: grades are decided by hidden tests "
            "that run in the grader, never in the student's notebook (see autograder/hidden.py)")
    if "### BEGIN HIDDEN TESTS" in spec.source_notebook:
        raise UsageError(
            f"the source notebook of {a} holds `### BEGIN HIDDEN TESTS` regions: they would run in the "
            f"student's kernel. Move those tests to assignments/{a}/{HIDDEN_TESTS_FILE} "
            "(see autograder/hidden.py)")
    try:
        from autograder.hidden import reference

        reference(spec, spec.load())  # the source's answers, run once here: a broken one stops now
    except Exception as e:  # noqa: BLE001 - the instructor's files: say where they broke
        raise UsageError(f"the hidden tests of {a} do not load: {type(e).__name__}: {e}") from e
    return spec


def _log_path(course: Course, a: str) -> Path:
    return course.root / "exports" / a / "autograde_log.csv"


def autograde(course: Course, a: str, students: list[str] | None = None, workers: int = 1,
              scheduler: str | None = None) -> dict[str, str]:
    """Autograde every submitted student (or the given ones). Returns {student: status}.

    workers > 1 runs the sandboxed executions in that many worker processes, scheduler (a Dask
    scheduler's address) on a Dask cluster; the gradebook is written by this process alone
    (autograder/parallel.py). Each student's execution time is recorded in the log."""
    course.check_assignment(a)
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, not {workers}")
    hidden_tests(course, a)
    # nbgrader needs the assignment in the gradebook: generate it if it was never released here.
    with course.gradebook() as gb:
        known = any(x.name == a for x in gb.assignments)
    if not known:
        _fail(course.api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
    todo = students or course.submitted_students(a)
    if not todo:
        raise UsageError(f"no submissions of {a} in {course.dir('submitted')}; run collect first")
    _check_sandbox(course)
    status: dict[str, str] = {}
    notes: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for student, res in _autograde_all(course, a, todo, workers, scheduler):
        status[student] = "graded" if res.get("success") else "failed: " + failure_reason(res)
        notes[student] = _sandbox_notes(course, a, student)
        seconds[student] = _execution_seconds(course, a, student)
    log = _log_path(course, a)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(LOG_COLUMNS)
        w.writerows([csv_cell(s), csv_cell(m), csv_cell(notes.get(s, "")), f"{seconds.get(s, 0.0):.2f}"]
                    for s, m in sorted(status.items()))
    bad = {s: m for s, m in status.items() if m != "graded"}
    print(f"autograded {len(status) - len(bad)} of {len(status)} submission(s) of {a}")
    for s, m in bad.items():
        print(f"  {s}: {m}")
    for s, n in sorted(notes.items()):
        if n:
            print(f"  {s}: {n}")
    return status


LOG_COLUMNS = ["student_id", "status", "notes", "seconds"]
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt)\b(?::.*)?$")


def failure_reason(res: dict) -> str:
    """The line that says why nbgrader could not grade a submission: the last exception in its
    log or traceback that is not nbgrader's own "see the above traceback"."""
    lines = [ln.strip() for ln in f"{res.get('log') or ''}\n{res.get('error') or ''}".splitlines()]
    found = [ln for ln in lines if _EXCEPTION_LINE.match(ln) and "see the" not in ln]
    if found:
        return found[-1]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else "unknown error"


def _autograde_all(course: Course, a: str, todo: list[str], workers: int, scheduler: str | None):
    """(student, nbgrader's result dict) for every student, sequentially or in parallel."""
    if workers > 1 or scheduler:
        from autograder.parallel import autograde_parallel

        where = f"Dask scheduler {scheduler}" if scheduler else f"{workers} worker processes"
        print(f"autograding {len(todo)} submission(s) of {a} on {where}")
        bar = partial(_progress, None, f"autograde {a}")
        for student, res, _ in autograde_parallel(course, a, todo, workers, scheduler, progress=bar):
            yield student, res
        return
    for student in _progress(todo, f"autograde {a}"):
        try:
            res = course.api.autograde(a, student, force=True, create=True)
        except Exception as e:  # noqa: BLE001 - one bad submission never stops the batch
            res = {"success": False, "error": f"{type(e).__name__}: {e}"}
        yield student, res


def _execution_seconds(course: Course, a: str, student: str) -> float:
    """Wall-clock seconds the sandbox took to run this submission's notebooks (its reports)."""
    from autograder.sandbox import read_reports

    return float(sum(r.get("elapsed", 0.0) for r in read_reports(course.dir("autograded", student, a))))


def _check_sandbox(course: Course) -> None:
    """Grading with the sandbox on but no working bwrap stops here, before any submission."""
    from autograder.sandbox import SandboxError, check_bwrap

    cfg = course.config.get("SandboxedExecute", {})
    if cfg.get("sandbox", True):
        try:
            check_bwrap(cfg.get("bwrap", "bwrap"))
        except SandboxError as e:
            raise UsageError(str(e)) from None


def _sandbox_notes(course: Course, a: str, student: str) -> str:
    """What the sandbox recorded for one submission: limits hit, kernel restarts ("" if none)."""
    from autograder.sandbox import read_reports

    parts = []
    for r in read_reports(course.dir("autograded", student, a)):
        parts += [f"cell {i['cell']}: {i['message']}" for i in r.get("incidents", [])]
        if not r.get("sandbox", True):
            parts.append("NOT SANDBOXED")
    return "; ".join(parts)


def feedback(course: Course, a: str) -> Path:
    course.check_assignment(a)
    _fail(course.api.generate_feedback(a, force=True), f"generate_feedback {a}")
    out = course.dir("feedback")
    print(f"feedback for {a} written to {out}/<student>/{a}/")
    return out


def scores(course: Course, a: str) -> list[dict]:
    """One row per student in the gradebook: their score on A (0 when nothing was graded)."""
    from nbgrader.api import MissingEntry

    rows = []
    with course.gradebook() as gb:
        assignment = gb.find_assignment(a)
        max_score = assignment.max_score
        for student in gb.students:
            try:
                sub = gb.find_submission(a, student.id)
            except MissingEntry:  # this student has no submission of A
                rows.append(dict(student_id=student.id, score=0.0, max_score=max_score,
                                 status="missing", timestamp=""))
                continue
            rows.append(dict(student_id=student.id, score=float(sub.score), max_score=max_score,
                             status="graded",
                             timestamp=sub.timestamp.isoformat() if sub.timestamp else ""))
    return rows


def export(course: Course, a: str, out: Path | None = None) -> Path:
    """Grades as CSV (student_id, score, max_score, percent, status, seconds, timestamp, notes) and
    the report next to it (report.md, histogram.png: autograder/report.py). `notes`: what the
    sandbox recorded (limits, integrity) and what collect noted (a renamed notebook, extra files,
    a folder without a notebook)."""
    from autograder import report

    course.check_assignment(a)
    out = out or course.root / "exports" / a / "grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = report.read_log(_log_path(course, a))
    collected = report.read_collect_log(_collect_log_path(course, a))
    rows = scores(course, a)
    for r in rows:
        entry = log.get(r["student_id"], {})
        r["status"] = entry.get("status") or r["status"]
        r["notes"] = entry.get("notes") or ""
        r["collect"] = report.collect_notes(collected.get(r["student_id"], []), r["status"])
        r["seconds"] = float(entry["seconds"]) if entry.get("seconds") else None
        r["percent"] = 100.0 * r["score"] / r["max_score"] if r["max_score"] else 0.0
    with open(out, "w", newline="", encoding="utf-8") as f:
        # QUOTE_MINIMAL quotes any field holding a comma, a quote or a line break (RFC 4180)
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(["student_id", "score", "max_score", "percent", "status", "seconds", "timestamp", "notes"])
        for r in rows:
            w.writerow([csv_cell(r["student_id"]), f"{r['score']:g}", f"{r['max_score']:g}",
                        f"{r['percent']:.1f}", csv_cell(r["status"]),
                        "" if r["seconds"] is None else f"{r['seconds']:.2f}", r["timestamp"],
                        csv_cell("; ".join(x for x in (r["notes"], r["collect"]) if x))])
    with course.gradebook() as gb:
        data = report.Gathered(max_score=float(gb.find_assignment(a).max_score), rows=rows,
                               tests=report.test_stats(gb, a),
                               collected=[c for cs in collected.values() for c in cs])
    rep = report.write_report(a, data, out.parent)
    print(f"grades of {a} ({len(rows)} students) written to {out}; report: {rep}")
    return out


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in [("release", "build the student edition"),
                        ("start", "a self-learner's working copy of the student edition in mywork/A/"),
                        ("feedback", "write per-student feedback"),
                        ("export", "write grades as CSV and a report"),
                        ("list", "list the course's assignments"),
                        ("clean", "remove what the course makes again (never edited notebooks, "
                                  "submissions or grades)")]:
        s = sub.add_parser(name, help=help_)
        if name not in ("list", "clean"):
            s.add_argument("assignment")
        if name == "export":
            s.add_argument("--out", type=Path, default=None)
        if name == "release":
            s.add_argument("--force", action="store_true",
                           help="release even over edited files of release/A/ (moved to mywork/backups/ "
                                "first)")
    s = sub.add_parser("collect", help="take a folder or zip of submissions into submitted/")
    s.add_argument("assignment")
    s.add_argument("path")
    s.add_argument("--pattern", default=DEFAULT_PATTERN,
                   help="regex with a (?P<student>...) group, matched on file or folder names")
    s = sub.add_parser("autograde", help="(collect and) autograde submissions")
    s.add_argument("assignment")
    s.add_argument("path", nargs="?", help="folder or zip to collect first")
    s.add_argument("--pattern", default=DEFAULT_PATTERN)
    s.add_argument("--student", action="append", help="only these students (repeatable)")
    _parallel_options(s)
    s = sub.add_parser("grade", help="collect + autograde + feedback + export")
    s.add_argument("assignment")
    s.add_argument("path", nargs="?", help="folder or zip to collect first (default: what "
                                             "submitted/ holds)")
    s.add_argument("--pattern", default=DEFAULT_PATTERN)
    _parallel_options(s)
    return p


def _parallel_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run N sandboxed executions at a time (the gradebook is still written by "
                        "one process); about one per CPU core")
    s.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the executions on an existing Dask distributed cluster, e.g. "
                        "tcp://10.0.0.5:8786 (its workers need this venv and bubblewrap)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dlcv.timing import cap_threads

    cap_threads()  # the hidden tests' reference answers run here, beside the sandboxed kernels
    try:  # nbgrader 0.9.6 with SQLAlchemy 2 warns on every submission; the warning is harmless
        from sqlalchemy.exc import SAWarning

        warnings.filterwarnings("ignore", category=SAWarning)
    except ImportError:  # pragma: no cover
        pass
    try:
        course = Course()
        a = getattr(args, "assignment", None)
        if args.command == "list":
            print("\n".join(course.assignments()))
        elif args.command == "release":
            release(course, a, force=args.force)
        elif args.command == "start":
            start(course, a)
        elif args.command == "clean":
            clean(course)
        elif args.command == "collect":
            collect(course, a, args.path, args.pattern)
        elif args.command == "autograde":
            if args.path:
                collect(course, a, args.path, args.pattern)
            autograde(course, a, args.student, workers=args.workers, scheduler=args.scheduler)
        elif args.command == "feedback":
            feedback(course, a)
        elif args.command == "export":
            export(course, a, args.out)
        elif args.command == "grade":
            if args.path:
                collect(course, a, args.path, args.pattern)
            autograde(course, a, workers=args.workers, scheduler=args.scheduler)
            feedback(course, a)
            export(course, a)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
