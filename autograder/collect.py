"""Collecting submissions: a folder or an LMS zip of notebooks -> submitted/<student>/<A>/.

    collect(course, A, PATH, pattern=...)   every notebook or student folder found in PATH ends
                                            collected (under its student id) or skipped with its
                                            reason, in exports/A/collect_log.csv

Student ids come from the file or folder names (DEFAULT_PATTERN, or the instructor's --pattern);
names that only differ by look-alike letters of other scripts are told apart and noted.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.course import DEFAULT_PATTERN, STUDENT_ID, Course
from autograder.errors import UsageError
from autograder.report import csv_cell


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
