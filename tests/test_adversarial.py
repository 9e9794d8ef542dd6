"""Adversarial submissions, graded in the sandbox by the real pipeline (cli.autograde -> nbgrader
-> SandboxedExecute), all in one batch: each case must earn exactly its score, the batch must
finish, the course files (source, release, every submission) must keep their hashes, the
gradebook must survive and every other student's grade must be right.

The assignment is tiny: a set-up cell, an answer `double` with a 3-point test, an answer
`triple` with a 2-point test. The attacks sit in the `double` answer cell (so "the function was
defined before the loop" is the case to beat) or in a function the test calls; `triple` is
always right, so a case that loses only `double` scores 2. Small limits keep it fast.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import (
    RIGHT_DOUBLE,
    autograded,
    course_hashes,
    outputs_text,
    set_cell,
    solved,
    tiny_course,
)

from autograder import cli

pytestmark = pytest.mark.nbgrader

A = "t1_adv"
NEEDY_TRIPLE = "def triple(x):\n    need = bytearray(400 * 2**20)  # right, needs 400 MB\n    return 3 * x"


def cases(root) -> dict[str, tuple[str | None, str | None, float]]:
    """student -> (double cell, triple cell (None: right), exact expected score)."""
    src = root / "assignments" / A / f"{A}.ipynb"
    targets = [root / "gradebook.db", src, root / "release" / A / f"{A}.ipynb",
               root / "submitted" / "zz_full" / A / f"{A}.ipynb", root / "assignments" / A]
    d = RIGHT_DOUBLE
    return {
        "full": (d, None, 5),
        "zero": ("def double(x):\n    raise NotImplementedError()",
                 "def triple(x):\n    raise NotImplementedError()", 0),
        "partial": ("def double(x):\n    raise NotImplementedError()", None, 2),
        "loop_top": (d + "\nwhile True:\n    pass", None, 2),
        "loop_in_function": ("def double(x):\n    while True:\n        pass", None, 2),
        "sleep_forever": ("import time\n" + d + "\ntime.sleep(10**6)", None, 2),
        "loop_ignoring_interrupts": (d + "\nwhile True:\n    try:\n        while True: pass\n"
                                     "    except KeyboardInterrupt:\n        pass", None, 2),
        "os_exit": ("import os\n" + d + "\nos._exit(1)", None, 2),
        "segfault": ("import ctypes\n" + d + "\nctypes.string_at(0)", None, 2),
        "segfault_in_test": ("def double(x):\n    import ctypes\n    ctypes.string_at(0)", None, 2),
        "memory_bomb": (d + "\nhog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))", None, 2),
        # after a memory limit the kernel is restarted and the earlier cells replayed: a later
        # answer that needs memory of its own still earns its points (numpy's lazily zeroed
        # arrays fill the address space fast, whatever the machine's load)
        "memory_bomb_then_needy": (d + "\nimport numpy as np\nhog = []\nwhile True:\n"
                                   "    hog.append(np.zeros(2**23))", NEEDY_TRIPLE, 2),
        "memory_in_test_then_needy": ("def double(x):\n    import numpy as np\n    hog = []\n"
                                      "    while True:\n        hog.append(np.zeros(2**23))",
                                      NEEDY_TRIPLE, 2),
        "fork_bomb": ("import os\n" + d + "\nwhile True:\n    os.fork()", None, 2),
        "huge_file": (d + "\nwith open('huge.bin', 'wb') as f:\n    for _ in range(100):\n"
                      "        f.write(bytes(2**20))", None, 2),
        "aaa_tamper": (d + "\nimport os, shutil\nfor p in " + repr([str(t) for t in targets]) + ":\n"
                       "    for how in (os.remove, shutil.rmtree, lambda p: open(p, 'w').write('x')):\n"
                       "        try:\n            how(p)\n            print('HARMED', p)\n"
                       "        except Exception as e:\n            print('SAFE', p, type(e).__name__)",
                       None, 5),
        "read_hidden": (d + "\nimport os\nfor p in " + repr([str(t) for t in targets]) + ":\n"
                        "    print('VISIBLE' if os.path.exists(p) else 'HIDDEN', p)", None, 5),
        "network": (d + "\nimport socket\nfor host in ('1.1.1.1', 'pypi.org'):\n    try:\n"
                    "        socket.create_connection((host, 443), timeout=2)\n        print('NET OPEN')\n"
                    "    except OSError as e:\n        print('NET BLOCKED', type(e).__name__)", None, 5),
        "sys_exit": (d + "\nimport sys\nsys.exit()", None, 5),
        "keyboard_interrupt": (d + "\nraise KeyboardInterrupt", None, 5),
        "big_output": (d + "\nprint('x' * (100 * 2**20))", None, 5),
        # right answers that write to stderr when the tests call them (nbgrader alone: 0 points)
        "warns_in_test": ("import sys, warnings\nimport numpy as np\ndef double(x):\n"
                          "    warnings.warn('double is slow')\n    np.log(np.zeros(1))\n"
                          "    print('a note', file=sys.stderr)\n    return 2 * x", None, 5),
        "zz_full": (d, None, 5),
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("adv_course")
    course = tiny_course(root, A, timeout=5, wall_timeout=30, interrupt_grace=2, memory_limit=2 * 2**30,
                         file_size_limit=16 * 2**20, nproc_limit=64)
    assert course.config.SandboxedExecute.sandbox is True
    incoming = root / "incoming"
    incoming.mkdir()
    expected = {}
    for sid, (double, triple, score) in cases(root).items():
        nb = solved(root, A)
        set_cell(nb, "double", double)
        if triple is not None:
            set_cell(nb, "triple", triple)
        nbformat.write(nb, incoming / f"{sid}.ipynb")
        expected[sid] = score
    cli.collect(course, A, incoming)
    before = course_hashes(root)
    status = cli.autograde(course, A)
    return dict(root=root, course=course, expected=expected, status=status, before=before,
                scores={r["student_id"]: r["score"] for r in cli.scores(course, A)})


def _autograded(batch, sid):
    return autograded(batch["root"], A, sid)


def _text(nb) -> str:
    return outputs_text(nb)



@pytest.mark.parametrize("sid", sorted(cases(Path("/"))))
def test_exact_score(batch, sid):
    assert batch["status"][sid] == "graded", batch["status"][sid]
    assert batch["scores"][sid] == batch["expected"][sid], _text(_autograded(batch, sid))[-2000:]


def test_batch_finished_and_course_unharmed(batch):
    assert set(batch["status"]) == set(batch["expected"])  # every submission has a status
    assert course_hashes(batch["root"]) == batch["before"]  # source, release, submissions untouched
    assert (batch["root"] / "gradebook.db").is_file()


def test_limits_are_recorded_in_notebook_and_log(batch):
    why = {
        "loop_top": "cell timed out after 5 s", "sleep_forever": "cell timed out after 5 s",
        "loop_in_function": "cell timed out after 5 s",
        "loop_ignoring_interrupts": "cell timed out after 5 s",
        "os_exit": "the kernel died (segfault or os._exit): exit code 1",
        "segfault": "killed by SIGSEGV", "segfault_in_test": "killed by SIGSEGV",
        "memory_bomb": "memory limit of 2 GB exceeded",
        "memory_bomb_then_needy": "memory limit of 2 GB exceeded",
        "memory_in_test_then_needy": "memory limit of 2 GB exceeded",
        "huge_file": "file size limit of 16 MB exceeded",
    }
    with open(batch["root"] / "exports" / A / "autograde_log.csv", newline="") as f:
        notes = {r["student_id"]: r["notes"] for r in csv.DictReader(f)}
    for sid, msg in why.items():
        assert msg in _text(_autograded(batch, sid)), sid
        assert msg in notes[sid], (sid, notes[sid])
    assert notes["fork_bomb"]  # process limit (or the timeout of the spinning parent)
    # the offending cell (the answer, or the test that called it) is the only one over the limit
    assert notes["memory_bomb_then_needy"] == "cell 2: memory limit of 2 GB exceeded"
    assert notes["memory_in_test_then_needy"] == "cell 3: memory limit of 2 GB exceeded"
    for sid in ("full", "zero", "partial", "zz_full", "read_hidden", "network"):
        assert notes[sid] == "", (sid, notes[sid])
    # the test of an answer that was stopped was not run: it says why
    nb = _autograded(batch, "loop_top")
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    assert test.outputs[0].ename == "NotRun" and "'double', which was stopped" in test.outputs[0].evalue


def test_files_outside_the_submission_are_invisible_and_safe(batch):
    tamper = _text(_autograded(batch, "aaa_tamper"))
    assert "HARMED" not in tamper and tamper.count("SAFE") == 15
    hidden = _text(_autograded(batch, "read_hidden"))
    assert "VISIBLE" not in hidden and hidden.count("HIDDEN") == 5


def test_network_is_blocked(batch):
    text = _text(_autograded(batch, "network"))
    assert "NET OPEN" not in text and text.count("NET BLOCKED") == 2


def test_huge_output_is_cut(batch):
    path = batch["root"] / "autograded" / "big_output" / A / f"{A}.ipynb"
    assert path.stat().st_size < 3 * 2**20
    assert "output cut" in path.read_text()


def test_warnings_are_kept_as_output(batch):
    text = _text(_autograded(batch, "warns_in_test"))
    assert "UserWarning: double is slow" in text and "RuntimeWarning" in text and "a note" in text


def test_sys_exit_and_keyboard_interrupt_are_ordinary_errors(batch):
    assert "SystemExit" in _text(_autograded(batch, "sys_exit"))
    assert "KeyboardInterrupt" in _text(_autograded(batch, "keyboard_interrupt"))


def test_sandbox_report_is_written(batch):
    from autograder.sandbox import read_reports

    (rep,) = read_reports(batch["root"] / "autograded" / "full" / A)
    assert rep["sandbox"] is True and rep["incidents"] == [] and rep["elapsed"] < 30
