"""Integrity (autograder/integrity.py): tampered cells and notebooks, monkeypatching, bad files.

One batch, graded by the real pipeline in the sandbox, on the tiny assignment of
tests/test_adversarial.py (a 3-point test of `double`, a 2-point test of `triple`):

- structure: edited, deleted, duplicated, renamed or retyped test and locked cells; each is
  restored or counted as nbgrader does, earns exactly its score and is reported in the log;
- tampering: a submission whose `double` is wrong (it would earn 2) monkeypatches what test
  code in its kernel would rely on; none of it reaches the hidden tests, which compare in the
  grader's process, so each earns exactly 2, like the same wrong answer without the patch;
- files: an old nbformat, invalid JSON, non-UTF-8 bytes, JSON that is not a notebook, a renamed
  notebook, extra files, a folder without a notebook, Unicode student ids (graded), an id that
  cannot be used (recorded with its reason, in the report).
"""

from __future__ import annotations

import copy
import csv
import json
import unicodedata

import nbformat
import pytest
from autograder_helpers import autograded, course_hashes, outputs_text, solved, tiny_course

from autograder import cli

pytestmark = pytest.mark.nbgrader

A = "t1_int"
WRONG = "def double(x):\n    return 0 * x"
NOT_DONE = "def double(x):\n    raise NotImplementedError()"


def _gid(c):
    return c.metadata.get("nbgrader", {}).get("grade_id")


def _cell(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if _gid(c) == gid)


def _set(nb, gid, source):
    nb.cells[_cell(nb, gid)].source = source


def edit_test(nb):
    _set(nb, "double", NOT_DONE)
    _set(nb, "test_double", "pass")


def edit_locked(nb):
    _set(nb, "double", NOT_DONE)
    _set(nb, "setup", "from dlcv.checks import checking\ndef expect_close(*a, **k):\n    pass")


def delete_test(nb):
    del nb.cells[_cell(nb, "test_double")]


def duplicate_test(nb):
    _set(nb, "double", NOT_DONE)
    i = _cell(nb, "test_double")
    fake = copy.deepcopy(nb.cells[i])
    fake.source = "pass"
    nb.cells.insert(i + 1, fake)  # the last copy counts: it is restored from the gradebook


def duplicate_cell_ids(nb):
    i = _cell(nb, "double")
    nb.cells.insert(i + 1, copy.deepcopy(nb.cells[i]))  # same cell id, same grade_id


def rename_grade_id(nb):
    _set(nb, "double", NOT_DONE)
    i = _cell(nb, "test_double")
    nb.cells[i].metadata.nbgrader["grade_id"] = "test_double_mine"
    nb.cells[i].source = "pass"


def retype_test(nb):
    nb.cells[_cell(nb, "test_double")].cell_type = "markdown"
    del nb.cells[_cell(nb, "test_double")]["outputs"]
    del nb.cells[_cell(nb, "test_double")]["execution_count"]


def change_points(nb):
    nb.cells[_cell(nb, "test_double")].metadata.nbgrader["points"] = 100


def strip_metadata(nb):  # the test cell becomes an ordinary cell: a deleted test
    nb.cells[_cell(nb, "test_double")].metadata = {}


STRUCTURE = {  # student -> (change, score, what the log says)
    "s_edit_test": (edit_test, 2, "test cell 'test_double' was edited"),
    "s_edit_locked": (edit_locked, 2, "locked cell 'setup' was edited"),
    "s_delete_test": (delete_test, 2, "test cell 'test_double' is missing"),
    "s_strip_metadata": (strip_metadata, 2, "test cell 'test_double' is missing"),
    "s_duplicate_test": (duplicate_test, 2, "'test_double' appears 2 times"),
    "s_duplicate_ids": (duplicate_cell_ids, 5, "'double' appears 2 times"),
    "s_rename_grade_id": (rename_grade_id, 2, "'test_double_mine', which the assignment does not have"),
    "s_retype_test": (retype_test, 5, "changed from code to markdown"),
    "s_points": (change_points, 5, "points of 'test_double' were changed"),
}

# Patches of what test code in the kernel would rely on. Grades are decided in the grader's
# process, so none of them can change one: each earns what its wrong answer earns, 2, and none is
# worth a note (they are not a failure of the submission, just useless).
TAMPER = {
    "t_allclose": "import numpy as np\nnp.allclose = lambda *a, **k: True",
    "t_isclose": "import numpy\nnumpy.isclose = lambda *a, **k: True",
    "t_array_equal": "import numpy as np\nnp.array_equal = lambda *a, **k: True",
    "t_np_testing": "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None",
    "t_assertion_error": "import builtins\nbuiltins.AssertionError = Exception",
    "t_abs": "import builtins\nbuiltins.abs = lambda x: 0",
    "t_print": "import builtins\nbuiltins.print = lambda *a, **k: None",
    "t_rebind_helper": "def expect_close(*a, **k):\n    pass",
    "t_checks_module": "import dlcv.checks\ndlcv.checks.expect_close = lambda *a, **k: None",
    "t_code_swap": "import dlcv.checks\ndlcv.checks.expect_close.__code__ = (lambda *a, **k: None).__code__",
    "t_check_failed": "import dlcv.checks\ndlcv.checks.CheckFailed.__init__ = lambda self, *a: None",
    "t_showtraceback": "get_ipython().showtraceback = lambda *a, **k: None",
    "t_run_cell": ("from IPython.core.interactiveshell import InteractiveShell\n"
                   "_orig = InteractiveShell.run_cell\n"
                   "def _quiet(self, *a, **k):\n    r = _orig(self, *a, **k)\n    r.error_in_exec = None\n"
                   "    return r\nInteractiveShell.run_cell = _quiet"),
    "t_custom_exc": "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
    "t_ast_transformer": ("import ast\nclass _T(ast.NodeTransformer):\n    def visit_With(self, node):\n"
                          "        return ast.Pass()\nget_ipython().ast_transformers.append(_T())"),
    "t_excepthook": "get_ipython().excepthook = lambda *a: None",
    "t_settrace": "import sys\nsys.settrace(lambda *a: None)",
    "t_hashlib": "import hashlib, json\nhashlib.sha1 = lambda *a: None\njson.dumps = lambda *a, **k: '{}'",
    "t_sys_excepthook": "import sys\nsys.excepthook = lambda *a: None",
    "t_fake_numpy": "class np:\n    allclose = staticmethod(lambda *a, **k: True)",
    "t_adds_to_numpy": "import numpy\nnumpy.my_helper = lambda x: x",
    "t_in_function": None,  # patches while the test calls it
}


def structure_and_tamper_cases():
    out = {"full": (None, 5, ""), "zero": ("zero", 0, ""), "partial": (NOT_DONE, 2, "")}
    out.update(STRUCTURE)
    for sid, attack in TAMPER.items():
        patch_in_call = "def double(x):\n    import numpy as np\n    np.allclose = lambda *a, **k: True\n"
        code = (WRONG + "\n" + attack) if attack else patch_in_call + "    return 0 * x"
        # a json.dumps that returns '{}' breaks the kernel's own messages: it is restarted (noted)
        out[sid] = (code, 2, "messages could not be read any more" if sid == "t_hashlib" else "")
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("int_course")
    course = tiny_course(root, A, timeout=10, wall_timeout=60, interrupt_grace=2)
    right = solved(root, A)
    incoming = root / "incoming"
    incoming.mkdir()
    expected = {}
    for sid, (change, score, note) in structure_and_tamper_cases().items():
        nb = copy.deepcopy(right)
        if change == "zero":
            _set(nb, "double", NOT_DONE)
            _set(nb, "triple", "def triple(x):\n    raise NotImplementedError()")
        elif isinstance(change, str):
            _set(nb, "double", change)
        elif change is not None:
            change(nb)
        (incoming / f"{sid}.ipynb").write_text(json.dumps(nb, indent=1))  # invalid ones too
        expected[sid] = (score, note)
    # files
    nbformat.write(nbformat.convert(right, 3), incoming / "f_nbformat3.ipynb")
    expected["f_nbformat3"] = (5, "")
    (incoming / "f_invalid_json.ipynb").write_text("{ this is not a notebook")
    (incoming / "f_non_utf8.ipynb").write_bytes(b'{"cells": [], "x": "\xff\xfe\xfa"}')
    (incoming / "f_not_a_notebook.ipynb").write_text(json.dumps([1, 2, 3]))
    (incoming / "f_no_cells.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5,
                                                          "metadata": {}, "cells": "nope"}))
    (incoming / "f_renamed").mkdir()
    nbformat.write(right, incoming / "f_renamed" / "my_homework_final.ipynb")
    expected["f_renamed"] = (5, "")
    (incoming / "f_extra").mkdir()
    nbformat.write(right, incoming / "f_extra" / f"{A}.ipynb")
    (incoming / "f_extra" / "notes.txt").write_text("extra")
    (incoming / "f_extra" / "dlcv.py").write_text("raise SystemExit('shadowing the course package')")
    expected["f_extra"] = (5, "")
    (incoming / "f_missing").mkdir()
    (incoming / "f_missing" / "README.md").write_text("I forgot the notebook")
    # Unicode student ids are kept, NFC-normalised: "zoë" typed with a combining diaeresis (as
    # macOS writes file names) is the same student as the composed one
    nbformat.write(right, incoming / "élodie_ünïcode.ipynb")
    expected["élodie_ünïcode"] = (5, "")
    nbformat.write(right, incoming / unicodedata.normalize("NFD", "zoë.ipynb"))
    expected["zoë"] = (5, "")
    (incoming / "张伟").mkdir()
    nbformat.write(right, incoming / "张伟" / "作业.ipynb")
    expected["张伟"] = (5, "")
    nbformat.write(right, incoming / "bad id!.ipynb")  # not usable as an id: recorded, with the reason
    collected = cli.collect(course, A, incoming)
    before = course_hashes(root)
    status = cli.autograde(course, A)
    with open(root / "exports" / A / "autograde_log.csv", newline="") as f:
        notes = {r["student_id"]: r["notes"] for r in csv.DictReader(f)}
    with course.gradebook() as gb:  # the class list has the student whose folder was empty
        gb.update_or_create_student("f_missing")
    grades = cli.export(course, A)
    with open(grades, newline="", encoding="utf-8") as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f)}
    return dict(root=root, course=course, expected=expected, status=status, before=before, notes=notes,
                collected={c.student: c for c in collected}, exported=exported,
                report=(grades.parent / "report.md").read_text(),
                scores={r["student_id"]: r["score"] for r in cli.scores(course, A)})


def _autograded(batch, sid):
    return autograded(batch["root"], A, sid)


def _text(nb) -> str:
    return outputs_text(nb)


@pytest.mark.parametrize("sid", sorted(["full", "zero", "partial", *STRUCTURE, *TAMPER,
                                        "f_nbformat3", "f_renamed", "f_extra", "élodie_ünïcode",
                                        "zoë", "张伟"]))
def test_exact_score_and_reason(batch, sid):
    score, note = batch["expected"][sid]
    assert batch["status"][sid] == "graded", batch["status"][sid]
    assert batch["scores"][sid] == score, (batch["notes"][sid], _text(_autograded(batch, sid))[-1500:])
    assert note in batch["notes"][sid], (sid, batch["notes"][sid])
    if not note:
        assert batch["notes"][sid] == "", (sid, batch["notes"][sid])


def test_reports_say_what_was_found(batch):
    from autograder.sandbox import read_reports

    (rep,) = read_reports(batch["root"] / "autograded" / "full" / A)
    assert rep["integrity"] == {"structure": []}
    assert rep["verdicts"]["test_double"]["score"] == 3.0
    (rep,) = read_reports(batch["root"] / "autograded" / "t_allclose" / A)
    assert rep["verdicts"]["test_double"]["score"] == 0.0 and rep["verdicts"]["test_triple"]["score"] == 2.0
    (rep,) = read_reports(batch["root"] / "autograded" / "s_delete_test" / A)
    assert [f["kind"] for f in rep["integrity"]["structure"]] == ["MissingCell"]


def test_edited_test_cell_is_restored(batch):
    nb = _autograded(batch, "s_edit_test")
    test = next(c for c in nb.cells if _gid(c) == "test_double")
    assert "expect_close(double(2), 4" in test.source and "not implemented yet" in _text(nb)
    assert "FAILED  double (double(2)): double is not implemented yet" in test.outputs[-1].evalue


def test_broken_files_end_with_a_reason(batch):
    for sid in ("f_invalid_json", "f_non_utf8", "f_not_a_notebook", "f_no_cells"):
        assert batch["status"][sid].startswith("failed: "), (sid, batch["status"][sid])
        assert batch["scores"].get(sid, 0) == 0


def test_collect_handles_names_and_extra_files(batch):
    c = batch["collected"]
    assert (c["f_renamed"].status, c["f_renamed"].note) == (
        "collected", f"renamed: my_homework_final.ipynb was graded as {A}.ipynb")
    assert (c["f_extra"].status, c["f_extra"].note) == (
        "collected", "extra files not graded: dlcv.py, notes.txt")
    assert sorted(p.name for p in (batch["root"] / "submitted" / "f_extra" / A).iterdir()) == \
        sorted([f"{A}.ipynb", "timestamp.txt"])  # extra files are not graded along
    assert (c["full"].status, c["full"].note) == ("collected", "")  # named by its file: no note
    assert (c["张伟"].status, c["张伟"].note) == ("collected", f"renamed: 作业.ipynb was graded as {A}.ipynb")
    # a folder without a notebook: reported; a student of the class is in the grades as missing, with why
    assert c["f_missing"].status == "skipped: no notebook in f_missing/ (it holds README.md)"
    assert "f_missing" not in batch["status"]
    assert batch["exported"]["f_missing"]["status"] == "missing"
    assert batch["exported"]["f_missing"]["notes"] == "no notebook in f_missing/ (it holds README.md)"
    assert batch["exported"]["f_renamed"]["notes"] == c["f_renamed"].note
    # an id that cannot be used: skipped, with the reason, in the report
    assert c["bad id!"].status.startswith("skipped: cannot read a student id from 'bad id!.ipynb': "
                                          "'bad id!' is not usable as one")
    report = batch["report"]
    assert "| bad id!.ipynb | bad id! | skipped: cannot read a student id from 'bad id!.ipynb'" in report
    assert "| f_missing | 0 | missing | no notebook in f_missing/ (it holds README.md) |" in report
    assert "| f_missing/ | f_missing | skipped: no notebook in f_missing/ (it holds README.md) |" in report
    assert "| f_renamed/my_homework_final.ipynb | f_renamed | collected; renamed: " in report


def test_unicode_student_ids_are_graded(batch):
    assert set(batch["collected"]) >= {"élodie_ünïcode", "zoë", "张伟"}
    assert "zoë" in batch["status"] and unicodedata.normalize("NFD", "zoë") not in batch["status"]
    for sid in ("élodie_ünïcode", "zoë", "张伟"):
        assert batch["exported"][sid]["score"] == "5" and batch["exported"][sid]["status"] == "graded"
        assert (batch["root"] / "autograded" / sid / A / f"{A}.ipynb").is_file()
    assert "| 张伟 |" not in batch["report"].split("## Failing")[1].split("## Collection")[0]


def test_batch_finished_and_course_unharmed(batch):
    collected = {s for s, c in batch["collected"].items() if c.status == "collected"}
    assert set(batch["status"]) == collected
    assert course_hashes(batch["root"]) == batch["before"]
