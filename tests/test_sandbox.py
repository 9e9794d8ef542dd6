"""The sandbox on its own (autograder/sandbox.py, autograder/sandbox_run.py): what the kernel
sees, the wall-clock limit, the switch that turns it off, and the loud failure without bwrap."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import cli
from autograder.sandbox import SandboxedExecute, SandboxError

pytestmark = pytest.mark.nbgrader


def run(tmp_path, *sources, **config):
    nb = nbformat.v4.new_notebook()
    for s in sources:
        kind, _, code = s.partition("|") if s[:2] in ("A|", "T|") else ("", "", s)
        cell = nbformat.v4.new_code_cell(code)
        if kind:
            cell.metadata["nbgrader"] = dict(solution=kind == "A", grade=kind == "T", points=1,
                                             grade_id=f"c{len(nb.cells)}")
        nb.cells.append(cell)
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "data.txt").write_text("the submission's own file")
    pp = SandboxedExecute(**{"timeout": 5, "wall_timeout": 30, **config})
    nb, _ = pp.preprocess(nb, {"metadata": {"path": str(sub), "name": "nb"}})
    report = json.loads((sub / "nb.sandbox.json").read_text())
    return nb, report


def out(cell) -> str:
    return "".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs)


def test_what_the_kernel_sees(tmp_path, repo):
    nb, rep = run(tmp_path, """
import os, sys, socket
print(os.getuid() >= 200000, os.getgid() >= 200000, os.getcwd(), socket.gethostname())
print(sorted(os.listdir("/")))
print(open("data.txt").read())
print([l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1])
print(len(os.listdir("/proc")) < 20)  # only the sandbox's processes
for p in ("/usr/x", "/etc/x", sys.prefix + "/x", "/x"):
    try:
        open(p, "w")
        print("WRITABLE", p)
    except OSError:
        pass
open("/tmp/scratch", "w").write("private /tmp")
""", "import dlcv.checks, numpy, sklearn.metrics; print('imports ok')")  # sklearn: joblib quiet (no /dev/shm)
    text = out(nb.cells[0])
    assert text.splitlines()[0] == "True True /home/student sandbox"
    assert "the submission's own file" in text
    assert "0000000000000000" in text and "WRITABLE" not in text
    top = eval(text.splitlines()[1])  # noqa: S307 - our own output
    # the top folders of the repository (for dlcv) and of the Python installation are there
    for needed in (Path(repo).resolve(), Path(sys.base_prefix).resolve()):
        assert needed.parts[1] in top, (needed, top)
    assert "mnt" not in top and "srv" not in top
    assert out(nb.cells[1]) == "imports ok\n"
    assert rep["incidents"] == [] and rep["sandbox"] is True


def test_only_the_python_and_dlcv_are_visible_from_the_repository(tmp_path, repo):
    nb, _ = run(tmp_path, f"import os; print(sorted(os.listdir({str(repo)!r})))")
    seen = eval(out(nb.cells[0]))  # noqa: S307
    assert set(seen) <= {".venv", "dlcv", "data"}, seen
    assert "dlcv" in seen and "assignments" not in seen and "gradebook.db" not in seen


def test_wall_clock_limit_stops_the_notebook(tmp_path):
    start = time.monotonic()
    nb, rep = run(tmp_path, "A|import time; time.sleep(2)", "A|time.sleep(2)", "A|time.sleep(2)",
                  "T|print('never')", timeout=5, wall_timeout=5)
    assert time.monotonic() - start < 15
    assert "the notebook was stopped after the wall-clock limit of 5 s" in out(nb.cells[2])
    assert out(nb.cells[3]).startswith("NotRun: not run: the notebook was stopped in cell 2")
    assert rep["stopped"] is True


def test_sandbox_off_keeps_the_same_rules(tmp_path):
    nb, rep = run(tmp_path, "A|def f(): return 1\nwhile True: pass", "T|assert f() == 1",
                  "print('after')", sandbox=False, timeout=2)
    assert "cell timed out after 2 s" in out(nb.cells[0])
    assert out(nb.cells[1]).startswith("NotRun")
    assert out(nb.cells[2]) == "after\n"
    assert rep["sandbox"] is False


def test_without_bwrap_grading_fails_loudly(tmp_path, monkeypatch):
    with pytest.raises(SandboxError, match="make setup-sandbox"):
        run(tmp_path, "1", bwrap="/nonexistent/bwrap")
    monkeypatch.setenv("DLCV_COURSE_ROOT", str(tmp_path))
    config = cli.load_config()
    config.SandboxedExecute.bwrap = "/nonexistent/bwrap"
    with pytest.raises(cli.UsageError, match="bubblewrap"):
        cli._check_sandbox(cli.Course(config))
    config.SandboxedExecute.sandbox = False  # the instructor's explicit choice
    cli._check_sandbox(cli.Course(config))


def test_overhead_of_the_sandbox(tmp_path):
    """A trivial notebook, sandboxed and not: the sandbox's own cost (printed with -s)."""
    times = {}
    for sandbox in (True, False):
        best = []
        for _ in range(3):
            _, rep = run(tmp_path, "x = 1", sandbox=sandbox)
            best.append(rep["elapsed"])
        times[sandbox] = min(best)
    print(f"\ntrivial notebook: sandboxed {times[True]:.2f} s, unsandboxed {times[False]:.2f} s, "
          f"overhead {times[True] - times[False]:+.2f} s")
    assert times[True] - times[False] < 1.5


def test_failed_checks_show_their_message_not_the_checks_frames(tmp_path):
    """A wrong answer shows only its message; an error in the student's code shows that error's
    traceback (the test's line and the student's function), then the message: never the frames
    of dlcv.checks and contextlib in between."""
    import re

    nb, _ = run(tmp_path, "A|from dlcv.checks import checking, expect_close\n"
                          "def f(x):\n    return x + 1\ndef g(x):\n    return [1][x]",
                "T|with checking('f'):\n    expect_close(f(1), 3, 'f(1)')",
                "T|with checking('g', case='x=3'):\n    expect_close(g(3), 3, 'g(3)')")
    tb = [re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(c.outputs[-1].traceback)) for c in nb.cells[1:]]
    assert tb[0] == "CheckFailed: f: f(1) is wrong.\n  expected 3\n  got      2"
    lines = tb[1].splitlines()
    assert lines[0].startswith("IndexError") and lines[0].endswith("Traceback (most recent call last)")
    assert lines[1:5] == ["Cell In[3], line 2", "----> expect_close(g(3), 3, 'g(3)')",
                          "Cell In[1], line 5, in g", "----> return [1][x]"], lines
    assert lines[-3:] == ["IndexError: list index out of range", "",
                          "CheckFailed: g (x=3) raised IndexError: list index out of range"]
    assert "contextlib" not in tb[1] and "checks.py" not in tb[1] and len(lines) == 8
    assert [c.outputs[-1].ename for c in nb.cells[1:]] == ["CheckFailed", "CheckFailed"]
