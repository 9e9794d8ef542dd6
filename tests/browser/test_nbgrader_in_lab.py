"""nbgrader in JupyterLab, as a student and as an instructor.

Student: the student edition of the first assignment (made by the instructor command line,
`python -m autograder release`, in the scratch course the server serves) opens with nbgrader's
Validate button and all its cells, test cells read-only, no solutions or hidden tests. Running it
stops at the first test with the friendly message, and running on from there (Run Selected Cell
and All Below) fails each next test with its own message; Validate lists the failing tests.
Instructor: the Nbgrader menu's Formgrader lists every assignment of the course.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest

from .conftest import REPO, RUN_ALL_TIMEOUT, goto_lab, menu, save_screenshot

pytestmark = pytest.mark.browser

ASSIGNMENT_IDS = sorted(p.parent.name for p in (REPO / "assignments").glob("*/*.ipynb"))
ASSIGNMENT = ASSIGNMENT_IDS[0]  # a1_knn_linear
FOLLOW_ON_TESTS = 2  # test cells run after the first one, one "run below" each
NOT_IMPLEMENTED = re.compile(r"(\w[\w.]*) is not implemented yet")
FORMGRADER_TIMEOUT = 300_000  # ms; guards against a hang only


@pytest.fixture(scope="module")
def student_edition(lab):
    """Release the assignment in the scratch course with the instructor command line."""
    env = {**os.environ, "DLCV_COURSE_ROOT": str(lab.root)}
    env.pop("DLCV_GRADEBOOK", None)
    done = subprocess.run([sys.executable, "-m", "autograder", "release", ASSIGNMENT],
                          cwd=lab.root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"release failed:\n{done.stdout}\n{done.stderr}"
    folder = lab.root / "release" / ASSIGNMENT
    notebooks = sorted(folder.glob("*.ipynb"))
    assert notebooks, f"no notebook in {folder}: {done.stdout}"
    return notebooks[0]


def _test_cells(nb) -> list[tuple[int, str]]:
    """The visible test cells (`with checking("name", ...)`): (cell index, function), in order."""
    found = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"):
            m = re.search(r'checking\(\s*"([^"]+)"', c.source)
            if m:
                found.append((i, m.group(1)))
    return found


# Cell `i` ran again (its execution count differs from `before`) and shows a failed check (a
# CheckFailed shows its message, after the traceback of the student's error when there is one);
# nothing is queued or running and the kernel is idle.
_JS_CELL_FAILED = """([i, before]) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
      .map(e => e.textContent);
  if (prompts.some(p => p.includes('*'))) return false;
  const item = [...document.querySelectorAll('.jp-StatusBar-TextItem')]
      .map(e => e.textContent).find(t => / \\| \\w+/.test(t)) || '';
  if (!item.endsWith('| Idle')) return false;
  const cell = panel.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const prompt = cell.querySelector('.jp-InputArea-prompt').textContent.trim();
  return /\\[\\d+\\]/.test(prompt) && prompt !== before && [...cell.querySelectorAll(
      '.jp-OutputArea-output')].some(o => o.textContent.includes('CheckFailed'));
}"""


_JS_CELL_COUNT = """(n) => document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').length >= n"""


def test_student_edition_in_lab(student_edition, open_notebook, screenshots):
    released = nbformat.read(student_edition, as_version=4)
    expected_tests = _test_cells(released)
    assert len(expected_tests) > FOLLOW_ON_TESTS, expected_tests
    path = student_edition.relative_to(student_edition.parents[2]).as_posix()  # release/a/x.ipynb

    nb = open_notebook(path)
    page, panel = nb.page, nb.panel
    # nbgrader's lab extension puts its Validate button on the notebook's toolbar.
    validate = panel.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate", exact=True)
    validate.wait_for(state="visible")
    # The assignment's cells are all there; the test cells are locked (read-only editors).
    cells = panel.locator(".jp-Notebook .jp-Cell")
    # JupyterLab attaches a long notebook's cells lazily, when idle ("defer" windowing): wait for all
    page.wait_for_function(_JS_CELL_COUNT, arg=len(released.cells), timeout=RUN_ALL_TIMEOUT, polling=500)
    assert cells.count() == len(released.cells)
    text = panel.locator(".jp-Notebook").text_content()
    assert "# YOUR CODE HERE" in text and "raise NotImplementedError()" in text
    for leaked in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        assert leaked not in text, f"the student edition shows {leaked!r}"
    test_cells = panel.locator(".jp-CodeCell").filter(has_text="with checking(")
    assert test_cells.count() == len(expected_tests)
    read_only = panel.locator(".jp-CodeCell:has(.cm-editor.jp-mod-readOnly)").filter(
        has_text="with checking(")
    assert read_only.count() == len(expected_tests), "test cells should be read-only"

    # Run All stops at the first test: nothing implemented yet, said in a student's words. Then
    # run on from the cell after the failed test (Run > Run Selected Cell and All Below), as the
    # notebook's "How to work" says: the next test fails with its own message.
    # (Whether the kernel also skips the cells after a failure depends on timing: ipykernel
    # aborts only the requests that reached it before the error. So each test cell is checked
    # for itself rather than counting the failures.)
    for k, (i, function) in enumerate(expected_tests[:FOLLOW_ON_TESTS + 1]):
        cell = cells.nth(i)
        before = cell.locator(".jp-InputArea-prompt").text_content().strip()
        t0 = time.monotonic()
        if k == 0:
            nb.menu("Run", "Run All Cells")
        else:
            cells.nth(expected_tests[k - 1][0] + 1).locator(".jp-InputArea-prompt").click()
            nb.menu("Run", "Run Selected Cell and All Below")
        page.wait_for_function(_JS_CELL_FAILED, arg=[i, before], timeout=RUN_ALL_TIMEOUT,
                               polling=500)
        message = "\n".join(cell.locator(".jp-OutputArea-output").all_text_contents())
        assert "CheckFailed" in message, message
        got = NOT_IMPLEMENTED.findall(message)
        assert got and got[-1] == function, (
            f"test cell {k + 1} should say that {function} is not implemented yet:\n{message}")
        print(f"test cell {k + 1} ({time.monotonic() - t0:.0f} s): "
              f"{message.strip().splitlines()[-1]}")
    cell.scroll_into_view_if_needed()
    save_screenshot(cell, screenshots, f"{ASSIGNMENT}-student-test-cell-{k + 1}")

    # Validate (nbgrader runs the notebook on the server) lists the failing tests.
    validate.click()
    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(state="visible", timeout=600_000)
    report = dialog.inner_text()
    save_screenshot(dialog.locator(".jp-Dialog-content"), screenshots,
                    f"{ASSIGNMENT}-student-validate")
    assert f"{expected_tests[0][1]} is not implemented yet" in report, report[:3000]
    assert "failed" in report.lower()
    dialog.get_by_role("button").last.click()
    dialog.wait_for(state="hidden")


def test_formgrader_lists_the_assignments(page, lab, student_edition, screenshots):
    goto_lab(page, lab)
    menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']").first
    rows = frame.locator("table tbody tr")
    # the server builds the page from the gradebook and the course: slow on a busy machine
    rows.first.wait_for(state="visible", timeout=FORMGRADER_TIMEOUT)
    frame.get_by_text(ASSIGNMENT_IDS[-1], exact=True).wait_for(state="visible", timeout=FORMGRADER_TIMEOUT)
    names = [t.strip() for t in frame.locator("table tbody tr td:first-child").all_inner_texts()]
    save_screenshot(page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden)").last, screenshots,
                    "formgrader-manage-assignments")
    assert set(ASSIGNMENT_IDS) <= set(names), f"formgrader lists {names}, the course has {ASSIGNMENT_IDS}"
    print("formgrader lists:", json.dumps(names))
