"""The sandbox on its own (autograder/sandbox.py, autograder/sandbox_run.py): what the kernel
sees, the wall-clock limit, the switch that turns it off, and the loud failure without bwrap."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import cli
from autograder.course import Course, load_config
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
    # Limits far above what the cells need (importing sklearn takes seconds on a busy machine):
    # a test of a limit sets that limit itself.
    pp = SandboxedExecute(**{"timeout": 300, "wall_timeout": 600, **config})
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
    seen = eval(out(nb.cells[0]))  # noqa: S307 - a list literal our own cell printed
    assert set(seen) <= {".venv", "dlcv", "data"}, seen
    assert "dlcv" in seen and "assignments" not in seen and "gradebook.db" not in seen


def test_wall_clock_limit_stops_the_notebook(tmp_path):
    """Cells 0 and 1 take no time (the kernel starts in about a second, even on a busy machine);
    cell 2 sleeps far beyond the wall-clock limit, and the per-cell limit is far above that: the
    wall-clock limit is what stops the notebook, in cell 2, whatever the machine's speed."""
    nb, rep = run(tmp_path, "A|import time", "A|pause = 3600", "A|time.sleep(pause)",
                  "T|print('never')", timeout=600, wall_timeout=5)
    assert [out(c) for c in nb.cells[:2]] == ["", ""]  # they ran, within the limit
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
    config = load_config()
    config.SandboxedExecute.bwrap = "/nonexistent/bwrap"
    with pytest.raises(cli.UsageError, match="bubblewrap"):
        cli._check_sandbox(Course(config))
    config.SandboxedExecute.sandbox = False  # the instructor's explicit choice
    cli._check_sandbox(Course(config))


def test_writable_places_are_size_limited(tmp_path):
    """/tmp, /var/tmp and the home folder hold at most tmp_size bytes each; a file of the
    submission is there read-only."""
    nb, _ = run(tmp_path, """
import os
for place in ("/tmp", "/var/tmp", os.path.expanduser("~")):
    written = 0
    try:
        for i in range(8):
            with open(os.path.join(place, f"f{i}"), "wb") as f:
                f.write(bytes(8 * 2**20))
            written += 8
        print(place, "FULL NOT REACHED", written)
    except OSError as e:
        print(place, "stopped after", written, "MB:", e.strerror)
try:
    open("data.txt", "a").write("changed")
    print("SUBMISSION WRITABLE")
except OSError:
    print("submission read-only")
""", tmp_size=32 * 2**20)
    text = out(nb.cells[0])
    stops = re.findall(r"stopped after (\d+) MB: No space left on device", text)
    assert len(stops) == 3 and all(24 <= int(n) <= 32 for n in stops), text  # 32 MB each, not 64
    assert "submission read-only" in text and "WRITABLE" not in text
