"""Reading nbgrader notebooks: answer cells, test cells, their points and dependencies.

A test cell may say which answer cells it needs in its metadata, `"dlcv": {"requires": [...]}`
(grade_ids of answer cells). That makes partial credit predictable: a submission that solves a set
S of answer cells earns exactly the points of the tests whose requirements lie inside S.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat


def read(path: str | Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata (grade_id, points, solution, grade, locked...), {} if none."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def answer_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> cell, for every code cell a student writes in (nbgrader "solution" cells)."""
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if c.cell_type == "code"
            and nbgrader_meta(c).get("solution") and nbgrader_meta(c).get("grade_id")}


def written_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> cell, for every written answer: a markdown answer cell graded by hand
    (nbgrader's "manually graded answer", `grade` and `solution` both set)."""
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
            if c.cell_type == "markdown" and nbgrader_meta(c).get("solution")
            and nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("grade_id")}


def written_points(nb) -> float:
    """The points of the notebook's written answers (graded by hand)."""
    return sum(float(nbgrader_meta(c).get("points", 0)) for c in written_cells(nb).values())


def test_cells(nb) -> dict[str, dict]:
    """grade_id -> {"points": float, "requires": [answer grade_ids]} for autograded test cells."""
    out = {}
    for c in nb.cells:
        m = nbgrader_meta(c)
        if m.get("grade") and not m.get("solution") and c.cell_type == "code":
            out[m["grade_id"]] = {
                "points": float(m.get("points", 0)),
                "requires": list(c.get("metadata", {}).get("dlcv", {}).get("requires", [])),
            }
    return out


def expected_points(source_nb, solved: set[str]) -> float:
    """Points a submission earns when exactly the answer cells in `solved` are right."""
    return sum(t["points"] for t in test_cells(source_nb).values() if set(t["requires"]) <= solved)


def with_solutions(release_nb, source_nb, grade_ids: set[str] | None = None):
    """A copy of the student edition with the reference answers filled in (all, or the given
    answer cells, code or written): the notebook a perfect (or partly right) student would hand in."""
    nb = copy.deepcopy(release_nb)
    answers = {**answer_cells(source_nb), **written_cells(source_nb)}
    for c in nb.cells:
        gid = nbgrader_meta(c).get("grade_id")
        if nbgrader_meta(c).get("solution") and gid in answers and (grade_ids is None or gid in grade_ids):
            c.source = answers[gid].source
    return nb


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
_FILE_AND_LINE = re.compile(r"\s*\([^()]*, line \d+\)$")  # SyntaxError's "(3422837263.py, line 4)"


def error_summary(output, source: str = "") -> str:
    """An error output of a cell in one line, with the line of the cell where it stopped:
    "SyntaxError at line 4 (`return x +`): invalid syntax"."""
    ename, evalue = output.get("ename") or "Error", str(output.get("evalue") or "")
    tb = _ANSI.sub("", "\n".join(str(t) for t in output.get("traceback") or []))
    m = _CELL_LINE.search(tb)  # the first frame is the cell's own
    if m is None:
        return f"{ename}: {evalue}".rstrip(": ")
    n = int(m.group(1))
    lines = source.splitlines()
    text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
    if ename in ("SyntaxError", "IndentationError", "TabError"):
        evalue = _FILE_AND_LINE.sub("", evalue)
    return f"{ename} at line {n}" + (f" (`{text}`)" if text else "") + (f": {evalue}" if evalue else "")


def failed_cells(nb, answers_only: bool = True) -> dict[str, tuple[str, str]]:
    """grade_id -> (source, error_summary) of the cells of a run notebook that stopped with an error
    (answer cells only, or with `answers_only=False` every cell with a grade_id)."""
    out = {}
    for c in nb.cells:
        gid = nbgrader_meta(c).get("grade_id")
        if c.cell_type != "code" or not gid or answers_only and not nbgrader_meta(c).get("solution"):
            continue
        err = next((o for o in c.get("outputs", []) if o.get("output_type") == "error"), None)
        if err is not None:
            out[gid] = (c.source, error_summary(err, c.source))
    return out
