"""Every assignment's written questions follow one form (autograder/written.py).

Each is a locked markdown question, "### Written question n (p points)", followed by a markdown
answer cell graded by hand (nbgrader: grade and solution, p points) that holds, in the source
edition, a model answer and a rubric whose bullets add up to p. An assignment has 3 to 5 of them,
worth 10 to 15 points beside its 100 points of tests. The student edition holds neither model
answer nor rubric (tests/test_nbgrader.py releases every assignment and checks).
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO

from autograder import notebooks as nbs

ASSIGNMENTS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/*.ipynb"))
HEADING = re.compile(r"^### Written question (\d+) \((\d+) points\)$", re.M)
RUBRIC = re.compile(r"^\*\*Rubric \((\d+) points\)\.\*\*$", re.M)
BULLET = re.compile(r"^- (\d+) points?: \S", re.M)


def _questions(nb):
    """(question cell, answer cell) pairs, in notebook order."""
    cells = nb.cells
    return [(cells[i - 1], c) for i, c in enumerate(cells) if i and nbs.nbgrader_meta(c).get("grade_id")
            in nbs.written_cells(nb)]


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_written_questions_have_one_form(a):
    nb = nbs.read(REPO / "assignments" / a / f"{a}.ipynb")
    pairs = _questions(nb)
    assert 3 <= len(pairs) <= 5, f"{a} has {len(pairs)} written questions (3 to 5 wanted)"
    assert 10 <= nbs.written_points(nb) <= 15, nbs.written_points(nb)
    assert sum(t["points"] for t in nbs.test_cells(nb).values()) == 100
    for n, (question, answer) in enumerate(pairs, start=1):
        qm, am = nbs.nbgrader_meta(question), nbs.nbgrader_meta(answer)
        gid = am["grade_id"]
        assert gid.startswith("written_") and qm.get("grade_id") == f"{gid}_question", (gid, qm)
        assert question.cell_type == "markdown" and qm.get("locked") and not qm.get("grade")
        assert not am.get("locked") and not am.get("task")
        points = am["points"]
        assert points in (2, 3, 4), (gid, points)
        heading = HEADING.search(question.source)
        assert heading and heading.groups() == (str(n), str(points)), (gid, question.source[:80])
        assert answer.source.startswith("**Model answer.** "), gid
        rubric = RUBRIC.search(answer.source)
        assert rubric and int(rubric.group(1)) == points, gid
        bullets = [int(b) for b in BULLET.findall(answer.source[rubric.end():])]
        assert bullets and sum(bullets) == points, (gid, bullets)
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "YOUR ANSWER HERE"):
            assert marker not in answer.source and marker not in question.source, (gid, marker)
