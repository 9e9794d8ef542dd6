"""The nbgrader round trip, through nbgrader itself, for every assignment:

release the student edition, collect four submissions (the reference solution, the untouched
student edition, a partly solved one, a broken file), autograde, write feedback, export grades.
The solution must earn full marks, the untouched edition 0 with every test failing cleanly,
the partial one exactly the points of the tests whose answer cells it solved.
"""

from __future__ import annotations

import csv
import json
import shutil

import nbformat
import pytest
from autograder_helpers import page_text, scratch_course
from conftest import REPO

from autograder import cli
from autograder import notebooks as nbs

ASSIGNMENT_IDS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/*.ipynb"))

pytestmark = pytest.mark.nbgrader


_GRADED: dict[str, dict] = {}


def _grade_in_scratch_course(a: str, root) -> dict:
    """A scratch course with one assignment released, four submissions collected and graded."""
    shutil.copytree(REPO / "assignments" / a, root / "assignments" / a)
    course = scratch_course(root)
    cli.release(course, a)

    nb_name = sorted((root / "assignments" / a).glob("*.ipynb"))[0].name
    source = nbs.read(root / "assignments" / a / nb_name)
    student = nbs.read(root / "release" / a / nb_name)
    answers = sorted(nbs.answer_cells(source))
    partial = set(answers[::2])  # every other answer cell solved

    subs = root / "incoming"
    subs.mkdir()
    nbformat.write(nbs.with_solutions(student, source), subs / "ada.ipynb")
    nbformat.write(student, subs / "blank.ipynb")
    nbformat.write(nbs.with_solutions(student, source, partial), subs / "half.ipynb")
    (subs / "broken.ipynb").write_text("{ this is not a notebook")
    collected = cli.collect(course, a, subs)
    status = cli.autograde(course, a)
    cli.feedback(course, a)
    csv_path = cli.export(course, a)
    return dict(a=a, root=root, course=course, source=source, partial=partial, nb_name=nb_name,
                collected=collected, status=status, csv=csv_path)


@pytest.fixture(params=ASSIGNMENT_IDS)
def graded(request, tmp_path_factory):
    # Built once per assignment and kept for the session (a module-scoped fixture would be
    # rebuilt whenever a pytest-xdist worker's queue runs dry between two of these tests).
    a = request.param
    if a not in _GRADED:
        _GRADED[a] = _grade_in_scratch_course(a, tmp_path_factory.mktemp(f"course_{a}"))
    return _GRADED[a]


def _scores(g):
    return {r["student_id"]: r for r in cli.scores(g["course"], g["a"])}


def test_release_hides_solutions_and_hidden_tests(graded):
    rel = graded["root"] / "release" / graded["a"]
    text = (rel / graded["nb_name"]).read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text
    # the written answers: "YOUR ANSWER HERE", never the model answer or the rubric
    released = nbs.read(rel / graded["nb_name"])
    written = nbs.written_cells(released)
    assert set(written) == set(nbs.written_cells(graded["source"])) and written
    assert all(c.source.strip() == "YOUR ANSWER HERE" for c in written.values())
    assert "Model answer" not in text and "Rubric (" not in text
    assert not list(rel.rglob("*.py")), "the jupytext twin (with solutions) was released"
    assert (graded["root"] / "release" / f"{graded['a']}.zip").is_file()


def test_every_submission_ends_graded_or_with_a_reason(graded):
    assert graded["status"]["ada"] == graded["status"]["blank"] == graded["status"]["half"] == "graded"
    assert graded["status"]["broken"].startswith("failed: ")


def test_reference_solution_gets_full_marks(graded):
    """Full automatic marks; its written answers (the model answers) await the grader."""
    s = _scores(graded)["ada"]
    total = sum(t["points"] for t in nbs.test_cells(graded["source"]).values())
    written = nbs.written_cells(graded["source"])
    assert s["max_auto"] == total > 0
    assert s["max_score"] == total + nbs.written_points(graded["source"])
    assert s["auto_score"] == total
    assert sorted(s["awaiting"]) == sorted(written) and s["manual_score"] == 0


def test_untouched_student_edition_scores_zero_and_fails_cleanly(graded):
    """0 automatic points; its written answers, left as "YOUR ANSWER HERE", are scored 0 with
    "No response." by nbgrader itself: nothing awaits the grader."""
    blank = _scores(graded)["blank"]
    assert blank["score"] == 0 and blank["awaiting"] == []
    with graded["course"].gradebook() as gb:
        sub = gb.find_submission_notebook(graded["nb_name"][:-6], graded["a"], "blank")
        comments = {c.name: c.auto_comment for c in sub.comments}
    assert all(comments[gid] == "No response." for gid in nbs.written_cells(graded["source"]))
    nb = nbs.read(graded["root"] / "autograded" / "blank" / graded["a"] / graded["nb_name"])
    tests = nbs.test_cells(graded["source"])
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests:
            errors = [o for o in c.outputs if o.output_type == "error"]
            assert errors, f"test cell {gid} passed on the untouched student edition"
            assert errors[0].ename == "CheckFailed", (
                f"test cell {gid} crashed with {errors[0].ename}: {errors[0].evalue}")
            assert "not implemented yet" in errors[0].evalue


def test_partial_submission_earns_exactly_its_points(graded):
    expected = nbs.expected_points(graded["source"], graded["partial"])
    total = sum(t["points"] for t in nbs.test_cells(graded["source"]).values())
    assert 0 < expected < total
    assert _scores(graded)["half"]["score"] == pytest.approx(expected)


def test_every_test_declares_known_requirements(graded):
    answers = set(nbs.answer_cells(graded["source"]))
    for gid, t in nbs.test_cells(graded["source"]).items():
        assert t["requires"], f"test cell {gid} does not say which answer cells it needs"
        assert set(t["requires"]) <= answers, f"{gid} requires unknown cells"


def test_feedback_never_reveals_hidden_tests(graded):
    html_name = graded["nb_name"].replace(".ipynb", ".html")
    hidden, visible = [], []
    everywhere_else = []  # every line of the notebook outside hidden regions
    for cell in graded["source"].cells:
        if "### BEGIN HIDDEN TESTS" in cell.source:
            before, rest = cell.source.split("### BEGIN HIDDEN TESTS", 1)
            inside, after = rest.split("### END HIDDEN TESTS", 1)
            visible += [ln.strip() for ln in before.splitlines() if len(ln.strip()) > 25]
            hidden += [ln.strip() for ln in inside.splitlines() if len(ln.strip()) > 25]
            everywhere_else += [ln.strip() for ln in (before + after).splitlines()]
        else:
            everywhere_else += [ln.strip() for ln in cell.source.splitlines()]
    hidden_file = REPO / "assignments" / graded["a"] / "hidden_tests.py"
    if hidden_file.is_file():  # the hidden tests live outside the notebook: lines it alone has
        notebook_text = "\n".join(c.source for c in graded["source"].cells)
        hidden += [ln.strip() for ln in hidden_file.read_text().splitlines()
                   if len(ln.strip()) > 25 and ln.strip() not in notebook_text]
        visible += [ln.strip() for c in graded["source"].cells if c.cell_type == "code"
                    and c.metadata.get("nbgrader", {}).get("grade")
                    for ln in c.source.splitlines() if len(ln.strip()) > 25]
    hidden = sorted(set(hidden) - set(everywhere_else))  # lines that only hidden parts have
    assert hidden and visible
    for student in ("ada", "blank", "half"):
        text = page_text(graded["root"] / "feedback" / student / graded["a"] / html_name)
        assert "HIDDEN TESTS" not in text
        assert sum(ln in text for ln in visible) > len(visible) // 2  # the check can see code
        leaked = [ln for ln in hidden if ln in text]
        assert not leaked, f"{student}'s feedback shows hidden test lines: {leaked[:2]}"
        if student == "blank":
            assert "not implemented yet" in text


def test_feedback_and_export(graded):
    fb = graded["root"] / "feedback" / "ada" / graded["a"] / graded["nb_name"].replace(".ipynb", ".html")
    assert fb.is_file()
    with open(graded["csv"], newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) >= {"ada", "blank", "half"}
    auto = sum(t["points"] for t in nbs.test_cells(graded["source"]).values())
    assert float(rows["ada"]["auto_score"]) == auto
    assert int(rows["ada"]["awaiting_manual"]) == len(nbs.written_cells(graded["source"]))
    assert float(rows["blank"]["score"]) == 0.0 and rows["blank"]["awaiting_manual"] == "0"
    log = (graded["root"] / "exports" / graded["a"] / "autograde_log.csv").read_text()
    assert "broken,failed: " in log


def test_collect_records_its_choices(graded):
    by = {c.student: c.status for c in graded["collected"]}
    assert by == {"ada": "collected", "blank": "collected", "half": "collected",
                  "broken": "collected"}
    stamp = graded["root"] / "submitted" / "ada" / graded["a"] / "timestamp.txt"
    assert stamp.read_text().endswith("UTC")
    json.loads((graded["root"] / "submitted" / "ada" / graded["a"] / graded["nb_name"]).read_text())
