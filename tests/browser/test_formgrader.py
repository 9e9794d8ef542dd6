"""Grading a written answer by hand in nbgrader's formgrader, as the instructor does.

The first assignment with written questions (a manually graded markdown answer cell whose grade_id
starts with "written_") gets one submission in the lab's scratch course: the student edition with
only its written answers filled in (the model answers' text, without their label and rubric; the
code stays unimplemented, so grading is quick), collected and autograded by the instructor command
line. Then in JupyterLab, Nbgrader > Formgrader: Manage Assignments lists the course; Manual
Grading leads to the assignment, its notebook and the student's submission, where the grader-only
note (model answer and rubric) follows the written answer; a score and a comment typed there are
saved (the formgrader's PUT answered, and read back after reloading). Then, outside the browser,
as the instructor goes on: the gradebook holds the score and the comment; `feedback` shows both to
the student, without the grader-only note; `export` puts the manual score in grades.csv and the
comment in report.md's "Written answers" table.

The three tests share the module's submission and run in order (each builds on the one before).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import nbformat
import pytest
from playwright.sync_api import expect

from autograder import notebooks as nbs

from .conftest import goto_lab, menu, save_screenshot

pytestmark = pytest.mark.browser

STUDENT = "lovelace"
# Plain words only: the feedback renders the comment as Markdown and the report puts it in a table.
COMMENT = "Formgrader check: the mechanism is right, but the answer never names the figure it explains"
FORMGRADER_TIMEOUT = 300_000  # ms; the server builds each page from the gradebook: slow when busy
CLI_TIMEOUT = 3600  # s; a guard against a hang only (autograding runs the notebook in the sandbox)


# ------------------------------------------------------------------------------------------
# the submission
# ------------------------------------------------------------------------------------------
def written_answers(nb) -> list:
    """The manually graded markdown answer cells (written questions) of a notebook, in order."""
    out = []
    for c in nb.cells:
        m = nbs.nbgrader_meta(c)
        if c.cell_type == "markdown" and m.get("grade") and m.get("solution") \
                and str(m.get("grade_id", "")).startswith("written_"):
            out.append(c)
    return out


def student_answer(source: str) -> str:
    """What a good student writes: the model answer's text, without the "Model answer." label and
    without the rubric, so that "Model answer" and "Rubric" on a page come from the grader-only
    note alone."""
    text = source.split("**Rubric")[0].replace("**Model answer.**", "").strip()
    return text or "An answer in the student's own words."


@dataclass
class Submission:
    assignment: str
    notebook: str  # nbgrader's notebook id (the file name without .ipynb)
    written: dict[str, float]  # grade_id -> points, every written answer of the notebook
    grade_id: str  # the written answer graded by hand
    points: float
    manual: float  # the score given to it
    answers: dict[str, str]  # grade_id -> the text the student handed in


def autograder_cli(lab, *args: str, timeout: float = CLI_TIMEOUT) -> str:
    """Run `python -m autograder ARGS` on the lab's scratch course; fail with its output."""
    env = {**os.environ, "DLCV_COURSE_ROOT": str(lab.root)}
    env.pop("DLCV_GRADEBOOK", None)
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=lab.root, env=env,
                          capture_output=True, text=True, timeout=timeout)
    print(f"python -m autograder {' '.join(args)}: exit {done.returncode} "
          f"({time.monotonic() - t0:.0f} s)")
    assert done.returncode == 0, (f"python -m autograder {' '.join(args)} failed:\n"
                                  f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def submission(lab) -> Submission:
    """One student's submission of the first assignment with written questions, autograded."""
    found = []
    for src in sorted((lab.root / "assignments").glob("*/*.ipynb")):
        if src.stem == src.parent.name:
            cells = written_answers(nbs.read(src))
            if cells:
                found.append((src, cells))
    assert found, ("no assignment has a written question yet (a markdown cell with nbgrader grade "
                   "and solution true and a grade_id starting with 'written_')")
    source_path, cells = found[0]
    a = source_path.parent.name
    written = {nbs.nbgrader_meta(c)["grade_id"]: float(nbs.nbgrader_meta(c)["points"]) for c in cells}
    grade_id, points = next(iter(written.items()))
    print(f"{a}: written answers {written}; grading {grade_id} by hand")

    autograder_cli(lab, "release", a, timeout=900)
    released_path = lab.root / "release" / a / source_path.name
    released = nbs.read(released_path)
    # The student edition holds neither model answer nor rubric (nbgrader replaces the cell).
    for c in written_answers(released):
        assert c.source.strip() == "YOUR ANSWER HERE", (
            f"{nbs.nbgrader_meta(c)['grade_id']} in the student edition reads {c.source[:200]!r}")
    assert set(nbs.nbgrader_meta(c)["grade_id"] for c in written_answers(released)) == set(written)

    handed_in = nbs.with_solutions(released, nbs.read(source_path), grade_ids=set(written))
    answers = {}
    for c in written_answers(handed_in):
        c.source = answers[nbs.nbgrader_meta(c)["grade_id"]] = student_answer(c.source)
    incoming = lab.root / "incoming"
    incoming.mkdir(exist_ok=True)
    nbformat.write(handed_in, incoming / f"{STUDENT}.ipynb")

    autograder_cli(lab, "collect", a, str(incoming), timeout=900)
    out = autograder_cli(lab, "autograde", a)
    print(out.strip())
    graded = lab.root / "autograded" / STUDENT / a / source_path.name
    assert graded.is_file(), f"autograde left no {graded}:\n{out}"
    manual = points - 1 if points >= 2 else points / 2  # partial credit: neither full nor none
    return Submission(a, source_path.stem, written, grade_id, points, manual, answers)


# ------------------------------------------------------------------------------------------
# in the browser
# ------------------------------------------------------------------------------------------
def _frame(page):
    """The formgrader's iframe (its src stays /formgrader while it navigates inside)."""
    return page.frame_locator("iframe[src*='formgrader']").first


def _main_area(page):
    return page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden)").last


def test_formgrader_grades_a_written_answer(page, lab, submission, screenshots):
    s = submission
    goto_lab(page, lab)
    menu(page, "Nbgrader", "Formgrader")
    frame = _frame(page)

    # Manage Assignments: every assignment of the course, ours with its submission.
    row = frame.locator("table tbody tr").filter(has=frame.get_by_text(s.assignment, exact=True))
    row.wait_for(state="visible", timeout=FORMGRADER_TIMEOUT)
    course = sorted(p.parent.name for p in (lab.root / "assignments").glob("*/*.ipynb")
                    if p.stem == p.parent.name)
    for a in course:
        frame.get_by_text(a, exact=True).first.wait_for(state="visible", timeout=FORMGRADER_TIMEOUT)
    names = [t.strip() for t in frame.locator("table tbody tr td:first-child").all_inner_texts()]
    assert set(course) <= set(names), f"formgrader lists {names}, the course has {course}"
    expect(row.locator(".num-submissions")).to_have_text(re.compile(r"^\s*[1-9]\d*\s*$"),
                                                         timeout=FORMGRADER_TIMEOUT)
    save_screenshot(_main_area(page), screenshots, f"formgrader-{s.assignment}-manage-assignments")

    # Manual Grading > assignment > notebook > the student's submission. The list hides the
    # names: each row links "Submission #k" and, hidden until its eye icon is clicked, the
    # student's id, both to /formgrader/submissions/<id of the submitted notebook>/. Our row is
    # the one whose hidden link names the student.
    frame.get_by_role("link", name="Manual Grading", exact=True).click()
    frame.get_by_role("link", name=s.assignment, exact=True).click(timeout=FORMGRADER_TIMEOUT)
    frame.get_by_role("link", name=s.notebook, exact=True).click(timeout=FORMGRADER_TIMEOUT)
    named = frame.locator(f"a.name-shown:text-is('{STUDENT}')")
    submission_row = frame.locator("table tbody tr").filter(has=named)
    submission_row.wait_for(state="visible", timeout=FORMGRADER_TIMEOUT)
    link = submission_row.get_by_role("link", name=re.compile(r"^Submission #\d+$"))
    route = link.get_attribute("href")
    assert route == named.get_attribute("href") and "/formgrader/submissions/" in route, route
    expect(submission_row.locator(".needs-manual-grade")).to_have_attribute(
        "data-search", "needs manual grade")  # the column's mark (a glyph), as DataTables sees it
    save_screenshot(_main_area(page), screenshots, f"formgrader-{s.assignment}-submissions")
    print(f"{STUDENT}: {link.inner_text().strip()} -> {route}")
    link.click()

    # The submission view: the written answer, its score box and comment box.
    score = frame.locator(f"input.score[id='{s.grade_id}']")
    comment = frame.locator(f"textarea.comment[id='{s.grade_id}-comment']")
    answer = frame.locator("#notebook-container div.cell").filter(has=score)
    score.wait_for(state="visible", timeout=FORMGRADER_TIMEOUT)
    # Bound to the gradebook once the comment box has its placeholder and the score box is marked
    # as needing a manual grade (formgrade.js renders both after fetching the grades and comments).
    expect(comment).to_have_attribute("placeholder", re.compile("Type any comments"),
                                      timeout=FORMGRADER_TIMEOUT)
    expect(score).to_have_class(re.compile(r"\bneeds_manual_grade\b"), timeout=FORMGRADER_TIMEOUT)
    view = next(f for f in page.frames if "/formgrader/submissions/" in f.url)
    print(f"submission view: {view.url.split('?')[0]}")
    answer_text = answer.inner_text()
    assert "Student's answer" in answer_text and "YOUR ANSWER HERE" not in answer_text, answer_text
    assert "Rubric" not in answer_text, answer_text
    words = re.findall(r"[A-Za-z]{4,}", s.answers[s.grade_id])[:8]  # what the student wrote
    assert all(w in answer_text for w in words), (words, answer_text)

    # The grader-only note (model answer and rubric) is the very next cell, not a graded one.
    note = answer.locator("xpath=following-sibling::div[contains(concat(' ', @class, ' '), ' cell ')][1]")
    note_text = note.inner_text(timeout=10_000) if note.count() else "(no cell after the answer)"
    note_shown = "Model answer" in note_text and "Rubric" in note_text
    if note_shown:
        assert note.locator(".nbgrader_cell").count() == 0, "the grader-only note is a graded cell"

    # Type a score and a comment; each is saved when its box loses focus (a PUT to the
    # formgrader's API, which answers with what the gradebook now holds).
    is_put = lambda kind: lambda r: f"/formgrader/api/{kind}/" in r.url and r.request.method == "PUT"
    with page.expect_response(is_put("grade"), timeout=FORMGRADER_TIMEOUT) as saved:
        score.click()
        score.fill(f"{s.manual:g}")
        score.blur()
    assert saved.value.ok, saved.value.status
    assert float(saved.value.json()["manual_score"]) == s.manual, saved.value.json()
    with page.expect_response(is_put("comment"), timeout=FORMGRADER_TIMEOUT) as saved:
        comment.click()
        comment.fill(COMMENT)
        comment.blur()
    assert saved.value.ok, saved.value.status
    assert saved.value.json()["manual_comment"] == COMMENT, saved.value.json()
    answer.evaluate("e => { e.scrollIntoView({block: 'start'}); window.scrollBy(0, -120); }")
    save_screenshot(_main_area(page), screenshots, f"formgrader-{s.assignment}-written-answer")

    # Reload the submission view: the score and the comment come back from the gradebook.
    view.goto(view.url, timeout=FORMGRADER_TIMEOUT)
    expect(score).to_have_value(f"{s.manual:g}", timeout=FORMGRADER_TIMEOUT)
    expect(comment).to_have_value(COMMENT, timeout=FORMGRADER_TIMEOUT)
    expect(score).not_to_have_class(re.compile(r"\bneeds_manual_grade\b"))
    save_screenshot(answer, screenshots, f"formgrader-{s.assignment}-written-answer-reloaded")
    if note.count():
        save_screenshot(note, screenshots, f"formgrader-{s.assignment}-grader-note")
    print(f"graded {s.grade_id}: {s.manual:g} / {s.points:g}, comment saved; "
          f"grader-only note shown: {note_shown}")
    assert note_shown, (f"the cell after the written answer {s.grade_id} should be the grader-only "
                        f"note with 'Model answer' and 'Rubric'; it reads:\n{note_text[:1000]}")


# ------------------------------------------------------------------------------------------
# what the instructor does next: feedback, gradebook, export
# ------------------------------------------------------------------------------------------
def test_feedback_shows_the_grade_and_comment(page, lab, submission, screenshots):
    from nbgrader.api import Gradebook

    s = submission
    with Gradebook(f"sqlite:///{lab.root / 'gradebook.db'}", course_id="dlcv") as gb:
        grade = gb.find_grade(s.grade_id, s.notebook, s.assignment, STUDENT)
        remark = gb.find_comment(s.grade_id, s.notebook, s.assignment, STUDENT)
        assert grade.manual_score == s.manual and not grade.needs_manual_grade, grade.to_dict()
        assert remark.manual_comment == COMMENT, remark.to_dict()
        waiting = [g for g in s.written if g != s.grade_id and
                   gb.find_grade(g, s.notebook, s.assignment, STUDENT).needs_manual_grade]
        assert waiting == [g for g in s.written if g != s.grade_id], waiting

    autograder_cli(lab, "feedback", s.assignment, timeout=1800)
    path = lab.root / "feedback" / STUDENT / s.assignment / f"{s.notebook}.html"
    assert path.is_file(), f"no feedback at {path}"
    html = path.read_text(encoding="utf-8")
    assert "Rubric (" not in html, "the feedback shows the grader-only note (its rubric)"
    assert "<strong>Model answer.</strong>" not in html, "the feedback shows the grader-only note"

    # As the student sees it: the written answer with its score and the grader's comment.
    page.goto(path.as_uri())
    cell = page.locator("div.cell").filter(has=page.locator(f"a[name='{s.grade_id}']"))
    text = cell.inner_text()
    got = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
    assert got and float(got[1]) == s.manual and float(got[2]) == s.points, text[:1000]
    assert COMMENT in text, text[:2000]
    save_screenshot(cell, screenshots, f"feedback-{s.assignment}-written-answer")
    print(f"feedback {path}: {got[0]}, comment shown, no grader-only note")


def _section(markdown: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    return m[1] if m else ""


def _is_score(cell: str, value: float) -> bool:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(?:\s*/\s*\d+(?:\.\d+)?)?", cell.strip())
    return bool(m) and float(m[1]) == value


def test_export_shows_the_manual_grade(lab, submission):
    s = submission
    autograder_cli(lab, "export", s.assignment, timeout=1800)
    grades = lab.root / "exports" / s.assignment / "grades.csv"
    with open(grades, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0]) if rows else []
    row = next((r for r in rows if r["student_id"] == STUDENT), None)
    assert row, f"{grades} has no row for {STUDENT}: {rows}"
    print(f"grades.csv: {row}")
    missing = [c for c in ("auto_score", "manual_score", "late_penalty", "score", "max_score",
                           "awaiting_manual") if c not in columns]
    assert not missing, f"grades.csv lacks the columns {missing} (it has {columns})"
    assert float(row["manual_score"]) == s.manual, row
    assert int(float(row["awaiting_manual"])) == len(s.written) - 1, row

    report = (grades.parent / "report.md").read_text(encoding="utf-8")
    section = _section(report, "Written answers")
    assert section, f"report.md has no '## Written answers' section:\n{report[:3000]}"
    short = s.grade_id.removeprefix("written_")
    lines = [ln for ln in section.splitlines() if ln.lstrip().startswith("|") and STUDENT in ln]
    ours = [ln for ln in lines if s.grade_id in ln or re.search(rf"\b{re.escape(short)}\b", ln)]
    assert ours, f"the Written answers table has no row for {STUDENT} and {s.grade_id}:\n{section}"
    cells = [c.strip() for c in ours[0].strip().strip("|").split("|")]
    assert COMMENT in ours[0] and any(_is_score(c, s.manual) for c in cells), ours[0]
    print(f"report.md, Written answers: {ours[0].strip()}")
