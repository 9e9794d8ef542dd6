"""The instructor's command line, around nbgrader.

    python -m autograder release   A            student edition in release/A/ and release/A.zip
    python -m autograder collect   A PATH       a folder or zip of submissions -> submitted/
    python -m autograder autograde A [PATH]     (collect PATH, then) grade every submission
    python -m autograder feedback  A            feedback/<student>/A/*.html
    python -m autograder export    A            exports/A/grades.csv, report.md, histogram.png
    python -m autograder grade     A [PATH]     (collect +) autograde + feedback + export

autograde and grade take --workers N (N sandboxed executions at a time) or --scheduler ADDRESS
(a Dask cluster's); the gradebook is always written by this one process.

Every step can be run again: it redoes its work from the inputs (nbgrader's --force). One bad
submission never stops a batch: each one ends graded or with its reason recorded in
exports/A/autograde_log.csv.
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
import warnings
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Default: the student id is the file name without ".ipynb", or the name of the folder holding it.
DEFAULT_PATTERN = r"^(?P<student>[^/]+?)(?:\.ipynb)?$"


class UsageError(Exception):
    """A mistake in what the instructor asked for; printed without a traceback."""


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
def release(course: Course, a: str) -> Path:
    """Generate the student edition (release/A/) and a zip of it to hand out (release/A.zip)."""
    course.check_assignment(a)
    _fail(course.api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
    out = course.dir("release", a)
    leaked = [p for p in out.rglob("*.py")]
    if leaked:  # the jupytext twins hold solutions; the config ignores them, check anyway
        raise UsageError(f"refusing to release: {', '.join(map(str, leaked))} would ship solutions")
    zpath = course.dir("release", f"{a}.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(out.rglob("*")):
            if p.is_file():
                z.write(p, Path(a) / p.relative_to(out))
    print(f"released {a}: {out} and {zpath}")
    return out


# ------------------------------------------------------------------------------------------
# collect
# ------------------------------------------------------------------------------------------
@dataclass
class Collected:
    student: str
    source: str
    status: str  # "collected" or "skipped: <reason>"


def _candidates(folder: Path) -> list[tuple[str, Path]]:
    """(name used for the student id, notebook path) for every notebook under folder.

    A notebook directly in the folder is named by its file name; a notebook inside a
    sub-folder is named by the sub-folder (nbgrader's own submitted/<student>/ layout, and the
    layout of most LMS downloads once unzipped)."""
    found = []
    for p in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in p.parts or "__MACOSX" in p.parts:
            continue
        rel = p.relative_to(folder)
        found.append((rel.parts[0] if len(rel.parts) > 1 else p.name, p))
    return found


def collect(course: Course, a: str, path: str | Path, pattern: str = DEFAULT_PATTERN) -> list[Collected]:
    """Copy submissions (a folder or a zip, one notebook per student) into
    submitted/<student>/A/<notebook>.ipynb with a timestamp.txt.

    `pattern` is a regular expression with a named group `student`, matched against the file
    name (or the sub-folder name); e.g. for Moodle-style names "Jane Doe_12345_assignsubmission_
    file_a1.ipynb" use r"^[^_]+_(?P<student>\\d+)_".
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
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    target = (Path(tmp) / info.filename).resolve()
                    if not str(target).startswith(str(Path(tmp).resolve())):
                        continue  # path traversal in a zip: never extract outside tmp
                    z.extract(info, tmp)
                    ts = dt.datetime(*info.date_time).timestamp()
                    if target.is_file():
                        os.utime(target, (ts, ts))
            folder = Path(tmp)
        by_student: dict[str, list[Path]] = {}
        for name, nb in _candidates(folder):
            m = regex.search(name)
            student = m.group("student") if m else None
            if not student or not STUDENT_ID.match(student):
                results.append(Collected(str(student or name), str(nb.relative_to(folder)),
                                         f"skipped: cannot read a student id from {name!r}"))
                continue
            by_student.setdefault(student, []).append(nb)
        for student, found in sorted(by_student.items()):
            # Several notebooks from one student (re-submissions): the newest one counts.
            found.sort(key=lambda p: (p.stat().st_mtime, p.name))
            nb = found[-1]
            for older in found[:-1]:
                results.append(Collected(student, str(older.relative_to(folder)),
                                         f"skipped: older than {nb.name}, which was collected"))
            # The submitted notebook must carry the source notebook's name for nbgrader.
            target_name = nb.name if nb.name in source_nbs else source_nbs[0]
            dest = course.dir("submitted", student, a)
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            shutil.copyfile(nb, dest / target_name)
            stamp = dt.datetime.fromtimestamp(nb.stat().st_mtime, tz=dt.UTC)
            (dest / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
            results.append(Collected(student, str(nb.relative_to(folder)), "collected"))
    ok = sum(r.status == "collected" for r in results)
    print(f"collected {ok} submission(s) of {a}" +
          (f", skipped {len(results) - ok}" if len(results) > ok else ""))
    for r in results:
        if r.status != "collected":
            print(f"  {r.source}: {r.status}")
    return results


# ------------------------------------------------------------------------------------------
# autograde / feedback / export
# ------------------------------------------------------------------------------------------
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
        w.writerows([s, m, notes.get(s, ""), f"{seconds.get(s, 0.0):.2f}"] for s, m in sorted(status.items()))
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
    """Grades as CSV (student_id, score, max_score, percent, status, seconds, timestamp) and the
    report next to it (report.md, histogram.png: autograder/report.py)."""
    from autograder import report

    course.check_assignment(a)
    out = out or course.root / "exports" / a / "grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = report.read_log(_log_path(course, a))
    rows = scores(course, a)
    for r in rows:
        entry = log.get(r["student_id"], {})
        r["status"] = entry.get("status") or r["status"]
        r["notes"] = entry.get("notes") or ""
        r["seconds"] = float(entry["seconds"]) if entry.get("seconds") else None
        r["percent"] = 100.0 * r["score"] / r["max_score"] if r["max_score"] else 0.0
    with open(out, "w", newline="", encoding="utf-8") as f:
        # QUOTE_MINIMAL quotes any field holding a comma, a quote or a line break (RFC 4180)
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(["student_id", "score", "max_score", "percent", "status", "seconds", "timestamp"])
        for r in rows:
            w.writerow([r["student_id"], f"{r['score']:g}", f"{r['max_score']:g}", f"{r['percent']:.1f}",
                        r["status"], "" if r["seconds"] is None else f"{r['seconds']:.2f}", r["timestamp"]])
    with course.gradebook() as gb:
        data = report.Gathered(max_score=float(gb.find_assignment(a).max_score), rows=rows,
                               tests=report.test_stats(gb, a))
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
                        ("feedback", "write per-student feedback"),
                        ("export", "write grades as CSV and a report"),
                        ("list", "list the course's assignments")]:
        s = sub.add_parser(name, help=help_)
        if name != "list":
            s.add_argument("assignment")
        if name == "export":
            s.add_argument("--out", type=Path, default=None)
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
            release(course, a)
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
