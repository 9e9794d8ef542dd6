"""The instructor's term on the tiny assignment with a written question (2 points), through
nbgrader itself: written answers graded by hand, a due date and the late policy, a regrade that
keeps the grader's work, the LMS's import file, the report.

One course is graded once (a module fixture): ada on time and solved, late_lee solved but 30
hours late, blank untouched. Each test then grades the written answers it needs in the gradebook
(the same grades whatever the order), as the formgrader does (the browser test,
tests/browser/test_formgrader.py, does it in the formgrader itself).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import os
import re

import nbformat
import pytest
from autograder_helpers import set_cell, solved, tiny_course

from autograder import cli
from autograder import notebooks as nbs
from autograder.errors import UsageError
from autograder.term import LatePenalty, parse_due

pytestmark = pytest.mark.nbgrader

A = "tiny_term"
DUE = dt.datetime(2027, 2, 5, 22, 0, tzinfo=dt.UTC)
ADA_ANSWER = "Four times x: the outer call doubles what the inner one returns."
COMMENT = "Right, and you said why: the second call doubles the first's result."


def _grade_written(course, student: str, score: float, comment: str) -> None:
    """What the formgrader does when a grader types a score and a comment."""
    with course.gradebook() as gb:
        g = gb.find_grade("written_twice", A, A, student)
        g.manual_score = score
        g.needs_manual_grade = False
        gb.find_comment("written_twice", A, A, student).manual_comment = comment
        gb.db.commit()


def _rows(path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {r.get("student_id") or r.get("SIS Login ID"): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    root = tmp_path_factory.mktemp("term")
    course = tiny_course(root, A, written=True, timeout=10, wall_timeout=60)
    course.config.Term.due = {A: DUE.isoformat()}
    incoming = root / "incoming"
    incoming.mkdir()
    release = nbs.read(root / "release" / A / f"{A}.ipynb")
    ada = solved(root, A)
    set_cell(ada, "written_twice", ADA_ANSWER)
    for name, nb, when in [("ada", ada, DUE - dt.timedelta(hours=2)),
                           ("late_lee", solved(root, A), DUE + dt.timedelta(hours=30)),
                           ("blank", release, DUE - dt.timedelta(days=1))]:
        path = incoming / f"{name}.ipynb"
        nbformat.write(nb, path)
        os.utime(path, (when.timestamp(), when.timestamp()))
    cli.collect(course, A, incoming)
    status = cli.autograde(course, A)
    assert status == {"ada": "graded", "late_lee": "graded", "blank": "graded"}, status
    first = _rows(cli.export(course, A))
    report = (root / "exports" / A / "report.md").read_text()
    return dict(root=root, course=course, first=first, first_report=report)


def test_release_writes_the_due_date_into_the_gradebook(tmp_path):
    course = tiny_course(tmp_path, A)
    course.config.Term.due = {A: "2027-03-01 12:00:00 +01:00"}
    cli.release(course, A)
    with course.gradebook() as gb:
        assert gb.find_assignment(A).duedate == dt.datetime(2027, 3, 1, 11, 0)  # UTC, as nbgrader keeps it


def test_written_answers_await_grading_after_autograding(term):
    first = term["first"]
    assert first["ada"]["auto_score"] == "5" and first["ada"]["manual_score"] == "0"
    assert first["ada"]["max_score"] == "7" and first["ada"]["awaiting_manual"] == "1"
    # an answer left as "YOUR ANSWER HERE" needs no grader: nbgrader scores it 0 ("No response.")
    assert first["blank"]["score"] == "0" and first["blank"]["awaiting_manual"] == "0"
    report = term["first_report"]
    assert "Awaiting manual grading: 2 submission(s): ada (1), late_lee (1)." in report
    assert "| blank | written_twice | 0 / 2 | No response. |" in report


def test_the_grader_sees_the_model_answer_and_the_rubric(term):
    nb = nbs.read(term["root"] / "autograded" / "ada" / A / f"{A}.ipynb")
    at = next(i for i, c in enumerate(nb.cells) if nbs.nbgrader_meta(c).get("grade_id") == "written_twice")
    note = nb.cells[at + 1]
    assert note.metadata["dlcv"] == {"grader_only": True} and "nbgrader" not in note.metadata
    assert "Model answer" in note.source and "Rubric (2 points)" in note.source
    released = (term["root"] / "release" / A / f"{A}.ipynb").read_text()
    assert "Model answer" not in released and "Rubric" not in released and "YOUR ANSWER HERE" in released


def test_late_penalty_follows_the_final_score(term):
    course = term["course"]
    late = term["first"]["late_lee"]
    # 30 hours late: two started days after 15 minutes' grace, 10 % each, of the automatic 5
    assert float(late["hours_late"]) == pytest.approx(30.0, abs=0.01)
    assert late["late_penalty"] == "1" and late["score"] == "4"
    assert term["first"]["ada"]["late_penalty"] == "0"
    _grade_written(course, "late_lee", 2, "Correct.")
    _grade_written(course, "ada", 1, COMMENT)
    rows = _rows(cli.export(course, A))
    assert rows["late_lee"]["late_penalty"] == "1.4" and rows["late_lee"]["score"] == "5.6"
    assert rows["ada"]["score"] == "6" and rows["ada"]["manual_score"] == "1"
    assert rows["ada"]["awaiting_manual"] == "0"
    report = (term["root"] / "exports" / A / "report.md").read_text()
    assert f"| ada | written_twice | 1 / 2 | {COMMENT} |" in report
    assert "Awaiting manual grading: 0 submission(s)." in report
    assert re.search(r"\| late_lee \| 2027-02-07T04:00:00\+00:00 \| 30\.0 \| 1\.4 \| 5\.6 \|", report), report
    row = next(ln for ln in report.splitlines() if "| written_twice |" in ln and "| written |" in ln)
    assert [c.strip() for c in row.split("|")[4:10]] == ["2", "1", "1", "1", "1.00", "33 %"], row


def test_regrade_of_one_student_keeps_the_graders_work(term):
    course, root = term["course"], term["root"]
    _grade_written(course, "ada", 1, COMMENT)
    other = (root / "autograded" / "blank" / A / f"{A}.ipynb").read_bytes()
    log_before = _rows(root / "exports" / A / "autograde_log.csv")
    assert cli.autograde(course, A, ["ada"]) == {"ada": "graded"}
    assert (root / "autograded" / "blank" / A / f"{A}.ipynb").read_bytes() == other
    log = _rows(root / "exports" / A / "autograde_log.csv")
    assert set(log) == set(log_before) and log["blank"] == log_before["blank"]
    with course.gradebook() as gb:
        g = gb.find_grade("written_twice", A, A, "ada")
        assert g.manual_score == 1 and not g.needs_manual_grade
        assert gb.find_comment("written_twice", A, A, "ada").manual_comment == COMMENT
    regrades = list(csv.DictReader(open(root / "exports" / A / "regrades.csv", encoding="utf-8")))
    assert regrades[-1]["student_id"] == "ada" and regrades[-1]["score_before"] == "6"
    assert regrades[-1]["score_after"] == "6" and regrades[-1]["manual_grades_kept"] == "written_twice"
    cli.export(course, A)
    assert "| ada | 6 | 6 | written_twice |" in (root / "exports" / A / "report.md").read_text()


def test_feedback_shows_grade_and_comment_never_the_rubric(term):
    course, root = term["course"], term["root"]
    _grade_written(course, "ada", 1, COMMENT)
    _grade_written(course, "late_lee", 2, "Correct.")  # penalty: 20 % of 5 + 2
    cli.feedback(course, A)
    text = html.unescape(re.sub(r"<[^>]+>", " ", (root / "feedback" / "ada" / A / f"{A}.html").read_text()))
    assert COMMENT in text
    assert "Rubric" not in text and "For the grader" not in text  # the grader's note is gone
    assert ADA_ANSWER in text
    page = (root / "feedback" / "late_lee" / A / f"{A}.html").read_text()
    late = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "Late submission penalty (Score: -1.4)" in re.sub(r"\s+", " ", late)


def test_lms_csv(term, tmp_path):
    course, root = term["course"], term["root"]
    _grade_written(course, "ada", 1, COMMENT)
    _grade_written(course, "late_lee", 2, "Correct.")
    cli.export(course, A)
    lms = (root / "exports" / A / "lms.csv").read_text().splitlines()
    assert lms[0] == f"Student,ID,SIS User ID,SIS Login ID,Section,{A}"
    assert ",,,ada,,6" in lms and ",,,blank,,0" in lms
    roster = tmp_path / "canvas.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,tiny_term (4711),Other (1)\n"
                      "    Points Possible,,,,,7,10\n"
                      "\"Lovelace, Ada\",101,s101,ada,Lab 1,,\n"
                      "\"Lee, Late\",102,s102,late_lee,Lab 2,,\n"
                      "\"Nobody, Not\",103,s103,nobody,Lab 2,,\n")
    cli.export(course, A, roster=roster)
    rows = list(csv.reader(open(root / "exports" / A / "lms.csv", encoding="utf-8")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "tiny_term (4711)"]
    assert rows[1:] == [["Lovelace, Ada", "101", "s101", "ada", "Lab 1", "6"],
                        ["Lee, Late", "102", "s102", "late_lee", "Lab 2", "5.6"],
                        ["Nobody, Not", "103", "s103", "nobody", "Lab 2", "0"]]


def test_late_policy_plugin():
    p = LatePenalty(percent_per_day=10, grace_minutes=15, zero_after_days=7)
    assert p.late_submission_penalty("x", 10, 0) == 0
    assert p.late_submission_penalty("x", 10, 14 * 60) == 0  # within the grace period
    assert p.late_submission_penalty("x", 10, 16 * 60) == pytest.approx(1.0)  # one started day
    assert p.late_submission_penalty("x", 10, 86400 + 16 * 60) == pytest.approx(2.0)
    assert p.late_submission_penalty("x", 10, 7 * 86400 + 1) == 10  # past the cutoff: all of it


def test_due_dates_keep_their_time_zone():
    utc = dt.datetime(2027, 2, 5, 22, 59, tzinfo=dt.UTC)
    for text in ("2027-02-05 23:59:00 +01:00", "2027-02-05T23:59+01:00", "2027-02-05 23:59 +0100",
                 "2027-02-05 23:59 Europe/Zurich", "2027-02-05 22:59", "2027-02-05 22:59 UTC"):
        assert parse_due(text) == utc, text
    for bad in ("next friday", "2027-02-05 23:59 Mars/Olympus"):
        with pytest.raises(UsageError, match="due date"):
            parse_due(bad)
