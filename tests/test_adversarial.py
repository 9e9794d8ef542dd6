"""Adversarial submissions, graded in the sandbox by the real pipeline (cli.autograde -> nbgrader
-> SandboxedExecute -> the hidden tests in the grader), all in one batch: each case must earn
exactly its score, the batch must finish, the course files (source, release, every submission)
must keep their hashes, the gradebook must survive and every other student's grade must be right.

The assignment is tiny: a set-up cell, an answer `double` with a 3-point test, an answer
`triple` with a 2-point test; its hidden tests (tests/autograder_helpers.py) run in the grader and
may import only numpy and dlcv.checks in the sandbox. The attacks sit in the `double` answer cell
(so "the function was defined before the loop" is the case to beat) or in a function the test
calls; `triple` is always right, so a case that loses only `double` scores 2. Small limits keep
it fast.

Two groups:
- limits and the sandbox's walls (loops, crashes, memory, processes, files, network);
- forging a grade: a wrong `double` (it earns 2) with every way we know to make the tests pass
  anyway: IPython hooks, patched helpers and context managers, a startup file read after a
  restart, an edited `dlcv.requires`, proxies and ndarray subclasses, inputs changed in place,
  forged replies to the grader, outputs that nbgrader would read as a score, imports of what
  the part forbids. Each earns exactly what its wrong answer earns.
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
WRONG = "def double(x):\n    return 0 * x\n"
# right, and needs 400 MB of the address space the memory limit caps (bytes(n) is lazily zeroed:
# no time spent writing it, however busy the machine)
NEEDY_TRIPLE = "def triple(x):\n    need = bytes(400 * 2**20)  # right, needs 400 MB\n    return 3 * x"


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
        "syntax_error": ("def double(x):\n    return 2 *\n", None, 2),  # its feedback: the line
        "loop_top": (d + "\nwhile True:\n    pass", None, 2),
        "loop_in_function": ("def double(x):\n    while True:\n        pass", None, 2),
        # an answer cell that loops after defining a right `double`: stopped, its tests earn nothing,
        # whatever the submission says its test needs (requirements come from the source)
        "f_requires_edited": (d + "\nwhile True:\n    pass", None, 2),
        "sleep_forever": ("import time\n" + d + "\ntime.sleep(10**6)", None, 2),
        "loop_ignoring_interrupts": (d + "\nwhile True:\n    try:\n        while True: pass\n"
                                     "    except KeyboardInterrupt:\n        pass", None, 2),
        "os_exit": ("import os\n" + d + "\nos._exit(1)", None, 2),
        "segfault": ("import ctypes\n" + d + "\nctypes.string_at(0)", None, 2),
        "segfault_in_test": ("def double(x):\n    import ctypes\n    ctypes.string_at(0)", None, 2),
        # the limit is on address space: lazily zeroed 256 MB blocks reach it in a few steps and
        # microseconds, far within the 5 s cell limit on a busy machine (blocks written byte by
        # byte took seconds of CPU: under load the time limit fired first)
        "memory_bomb": (d + "\nhog = []\nwhile True:\n    hog.append(bytes(2**28))", None, 2),
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
        # ten times what a cell keeps (max_output, 1 MB): cut. Not 100 MB: moving that through the
        # kernel's messages took seconds of CPU, and under load the 5 s cell limit could fire first
        "big_output": (d + "\nprint('x' * (10 * 2**20))", None, 5),
        # right answers that write to stderr when the tests call them (nbgrader alone: 0 points)
        "warns_in_test": ("import sys, warnings\nimport numpy as np\ndef double(x):\n"
                          "    warnings.warn('double is slow')\n    np.log(np.zeros(1))\n"
                          "    print('a note', file=sys.stderr)\n    return 2 * x", None, 5),
        "zz_full": (d, None, 5),
        # ---- forging a grade: `double` is wrong (it earns 2) -----------------------------------
        "f_post_run_clears_error": (WRONG + "def _clear(result):\n    result.error_in_exec = None\n"
                                    "get_ipython().events.register('post_run_cell', _clear)", None, 2),
        "f_pre_run_swaps_in_a_right_double": (
            WRONG + "_wrong = double\ndef _swap(info):\n    global double\n"
            "    double = (lambda x: 2 * x) if 'checking' in info.raw_cell else _wrong\n"
            "get_ipython().events.register('pre_run_cell', _swap)", None, 2),
        "f_contextlib_exit": (WRONG + "import contextlib\n"
                              "contextlib._GeneratorContextManager.__exit__ = lambda *a: True", None, 2),
        "f_patched_helpers": (WRONG + "import numpy as np\nimport dlcv.checks as c\n"
                              "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
                              "c.expect_close = lambda *a, **k: None\n"
                              "c.CheckFailed.__init__ = lambda self, *a: None", None, 2),
        "f_startup_file_then_exit": (
            WRONG + "import os\nd = os.path.expanduser('~/.ipython/profile_default/startup')\n"
            "os.makedirs(d, exist_ok=True)\nopen(os.path.join(d, '00-x.py'), 'w').write("
            "'import numpy, dlcv.checks\\nnumpy.allclose = lambda *a, **k: True\\n"
            "dlcv.checks.expect_close = lambda *a, **k: None\\n')\nos._exit(1)", None, 2),
        "f_np_proxy": (WRONG + "class _P:\n    def __getattr__(self, n):\n"
                       "        return lambda *a, **k: True\nnp = _P()", None, 2),
        "f_ndarray_subclass": ("import numpy as np\nclass _Yes(np.ndarray):\n"
                               "    def __eq__(self, o):\n        return np.ones(self.shape, bool)\n"
                               "    __array_priority__ = 1000\n"
                               "def double(x):\n    return np.zeros(np.shape(x)).view(_Yes)", None, 2),
        "f_float_subclass": ("class _F(float):\n    def __eq__(self, o):\n        return True\n"
                             "def double(x):\n    return _F(0.0)", None, 2),
        "f_object_equal_to_all": ("class _Any:\n    def __eq__(self, o):\n        return True\n"
                                  "    def __float__(self):\n        return 4.0\n"
                                  "def double(x):\n    return _Any()", None, 2),
        "f_zero_inputs_in_place": ("import numpy as np\ndef double(x):\n    if isinstance(x, np.ndarray):\n"
                                   "        x[...] = 0\n        return x\n    return 2 * x", None, 2),
        "f_forged_reply": (WRONG + "import sys\nsys.path.insert(0, '/opt/dlcv-grading')\n"
                           "from dlcv_inside import serve, wire\n"
                           "serve.Server.respond = lambda self, req: wire.encode({'ok': 4})", None, 0),
        "f_score_as_output": ("def double(x):\n    get_ipython().displayhook(3.0)\n"
                              "    print('Graded by the course\\'s tests: 3 of 3 points')\n"
                              "    return 0", None, 2),
        "f_prints_history": (d + "\nprint(In, Out)\ndef double(x):\n    print(In)\n    return 2 * x",
                             None, 5),
        "f_imports_torch": ("import torch\n" + d, None, 2),
        "f_scipy_inside": ("def double(x):\n    import scipy\n    return 2 * x", None, 2),
        "f_lecture_module": (d + "\nimport importlib.util, os\nimport dlcv\n"
                             "for m in ('linear', 'detection'):\n"
                             "    p = os.path.join(os.path.dirname(dlcv.__file__), m + '.py')\n"
                             "    print('EXISTS' if os.path.exists(p) else 'ABSENT', m)\n"
                             "    try:\n        importlib.import_module('dlcv.' + m)\n"
                             "        print('IMPORTED', m)\n"
                             "    except ImportError:\n        print('NOT IMPORTABLE', m)", None, 5),
        "f_hidden_case_loops": ("def double(x):\n    while x < 0:\n        pass\n    return 2 * x", None, 2),
        "f_hidden_case_kills_kernel": ("import os\ndef double(x):\n    if x < 0:\n        os._exit(3)\n"
                                       "    return 2 * x", None, 2),
        "f_huge_reply": ("import numpy as np\ndef double(x):\n    return np.ones(60_000_000)", None, 2),
        "f_deep_reply": ("def double(x):\n    r = []\n    for _ in range(10000):\n        r = [r]\n"
                         "    return r", None, 2),
        "f_exception_bomb": ("class _E(Exception):\n    def __str__(self):\n        return 'x' * 50_000_000\n"
                             "def double(x):\n    raise _E()", None, 2),
        "f_noisy_but_right": ("def double(x):\n    print('x' * 5_000_000)\n    return 2 * x", None, 5),
        # outputs a browser would run, in the feedback (and a Markdown cell with a script, added below)
        "f_live_outputs": (d + "\nfrom IPython.display import HTML, Javascript, SVG, display\n"
                           "display(HTML('<script>alert(\"xss1\")</script>'\n"
                           "             '<img src=x onerror=alert(\"xss2\")>'))\n"
                           "display(Javascript('alert(\"xss3\")'))\n"
                           "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>'))",
                           None, 5),
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
        if sid == "f_live_outputs":
            nb.cells.append(nbformat.v4.new_markdown_cell(
                "My notes <script>alert('xss4')</script> <img src=x onerror=\"alert('xss5')\">"))
        if sid == "f_requires_edited":  # the submission says the test needs `triple` only
            for c in nb.cells:
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double":
                    c.metadata["dlcv"] = {"requires": ["triple"]}
        nbformat.write(nb, incoming / f"{sid}.ipynb")
        expected[sid] = score
    cli.collect(course, A, incoming)
    before = course_hashes(root)
    status = cli.autograde(course, A)
    cli.feedback(course, A)
    return dict(root=root, course=course, expected=expected, status=status, before=before,
                scores={r["student_id"]: r["score"] for r in cli.scores(course, A)})


def cell_scores(course, student) -> dict[str, float]:
    """The gradebook's score of every test cell of one student's submission."""
    with course.gradebook() as gb:
        sub = gb.find_submission_notebook(A, A, student)
        return {g.name: g.score for g in sub.grades}


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
    assert "NotRun: not run: it needs answer cell 'double', which was stopped" in test.outputs[0].text
    assert "Not run: it needs answer cell 'double'" in test.outputs[-1].evalue  # the verdict


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


def test_a_syntax_error_is_shown_with_its_line_not_as_not_defined(batch):
    nb = _autograded(batch, "syntax_error")
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    assert ("double is not defined: the cell that defines it ('double') stopped with SyntaxError at line 2 "
            "(`return 2 *`): invalid syntax") in test.outputs[-1].evalue, test.outputs[-1].evalue  # verdict
    assert "the cell that defines it (In [" in _text(nb)  # the visible test's own message


def test_sys_exit_and_keyboard_interrupt_are_ordinary_errors(batch):
    assert "SystemExit" in _text(_autograded(batch, "sys_exit"))
    assert "KeyboardInterrupt" in _text(_autograded(batch, "keyboard_interrupt"))


def test_an_honest_submission_scores_the_same_alone(batch, tmp_path):
    """Per test cell, `full` graded in the batch of cheats = `full` graded alone."""
    alone = tiny_course(tmp_path, A, timeout=5, wall_timeout=30, interrupt_grace=2)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    nbformat.write(solved(tmp_path, A), incoming / "full.ipynb")
    cli.collect(alone, A, incoming)
    cli.autograde(alone, A)
    assert cell_scores(batch["course"], "full") == cell_scores(alone, "full") == {
        "test_double": 3.0, "test_triple": 2.0}


def test_forged_grades_are_reported_case_by_case(batch):
    nb = _autograded(batch, "f_patched_helpers")
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    verdict = test.outputs[-1]
    assert verdict.output_type == "error" and verdict.ename == "CheckFailed"
    assert "0 of 3 points (0 of 3 cases passed)" in verdict.evalue
    assert "double(-3) is wrong" in verdict.evalue
    # what the kernel showed under the test is kept, as text: it decides nothing
    assert all(o.output_type != "error" for o in test.outputs[:-1])


def test_imports_the_part_forbids_fail_with_a_message(batch):
    text = _text(_autograded(batch, "f_imports_torch"))
    assert "torch is not available while this part is graded" in text
    text = _text(_autograded(batch, "f_scipy_inside"))
    assert "scipy is not available while this part is graded" in text
    lecture = _text(_autograded(batch, "f_lecture_module"))
    for m in ("linear", "detection"):  # the lectures' modules are not even there
        assert f"ABSENT {m}" in lecture and f"NOT IMPORTABLE {m}" in lecture
        assert f"IMPORTED {m}" not in lecture


def test_no_hidden_code_reaches_the_student(batch):
    from autograder_helpers import TINY_HIDDEN_TESTS

    hidden_only = [ln.strip() for ln in TINY_HIDDEN_TESTS.splitlines() if "ref." in ln]
    assert hidden_only
    for sid in ("f_prints_history", "f_forged_reply", "full"):
        text = _text(_autograded(batch, sid))
        page = (batch["root"] / "feedback" / sid / A / f"{A}.html").read_text()
        for ln in hidden_only:
            assert ln not in text and ln not in page, (sid, ln)


def test_feedback_is_inert(batch):
    from html.parser import HTMLParser

    class Live(HTMLParser):
        """What a browser would run: script elements' text, on* attributes, javascript: links."""

        def __init__(self):
            super().__init__()
            self.found, self._in_script = [], False

        def handle_starttag(self, tag, attrs):
            self._in_script = tag == "script"
            self.found += [f"{tag} {k}={v}" for k, v in attrs
                           if k.startswith("on") or "javascript:" in str(v).lower()]

        def handle_endtag(self, tag):
            self._in_script = False

        def handle_data(self, data):
            if self._in_script and "xss" in data:
                self.found.append(data)

    page = (batch["root"] / "feedback" / "f_live_outputs" / A / f"{A}.html").read_text()
    live = Live()
    live.feed(page)
    assert live.found == [], live.found[:3]
    assert "My notes" in page  # the student's text is there, as text


def test_sandbox_report_is_written(batch):
    from autograder.sandbox import read_reports

    (rep,) = read_reports(batch["root"] / "autograded" / "full" / A)
    assert rep["sandbox"] is True and rep["incidents"] == [] and rep["stopped"] is False
    assert rep["elapsed"] > 0  # recorded; how long it took is the machine's business
