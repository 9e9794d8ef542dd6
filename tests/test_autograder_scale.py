"""Grading at scale: `--workers N` and `--scheduler ADDRESS` (a Dask cluster) give exactly the
grades of the sequential run, the gradebook is written by one process, the jobs sent to workers
carry data and no course paths; and the export: CSV quoting, the report's content.

One small batch of the tiny adversarial assignment (tests/autograder_helpers.py) is collected
once and graded four times, each in its own copy of the course: sequentially, with 2 worker
processes, on a Dask LocalCluster (2 workers as threads of this process: fast to start, and
two jobs side by side in one process, the hard case for the sandbox's per-process uid), and with
2 workers into a PostgreSQL gradebook (a throwaway local cluster; skipped, saying why, without
Debian's postgresql package or psycopg).
"""

from __future__ import annotations

import csv
import io
import shutil

import nbformat
import pytest
from autograder_helpers import (
    RIGHT_DOUBLE,
    postgres_cluster,
    postgres_missing,
    scratch_course,
    set_cell,
    solved,
    tiny_course,
)

from autograder import cli

pytestmark = pytest.mark.nbgrader

CASES = {  # student -> double cell (triple always right)
    "full": RIGHT_DOUBLE,
    "zero": "def double(x):\n    raise NotImplementedError()",
    "loop_top": RIGHT_DOUBLE + "\nwhile True:\n    pass",
    "os_exit": "import os\n" + RIGHT_DOUBLE + "\nos._exit(1)",
    "full_too": "import time\ntime.sleep(0.5)\n" + RIGHT_DOUBLE,
}
EXPECTED = {"full": 5, "zero": 2, "loop_top": 2, "os_exit": 2, "full_too": 5}
A = "t1_adv"
LIMITS = dict(timeout=3, wall_timeout=30, interrupt_grace=1, memory_limit=2 * 2**30, nproc_limit=64)
DASK_PROCESSES = False
ODD_ID = 'O"Hara, Jr.\nline two'  # a student id with a quote, a comma and a line break


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A course with the batch collected (not graded): copied for each way of grading."""
    root = tmp_path_factory.mktemp("scale") / "course"
    course = tiny_course(root, A, **LIMITS)
    incoming = root / "incoming"
    incoming.mkdir()
    for sid, double in CASES.items():
        nb = solved(root, A)
        set_cell(nb, "double", double)
        nbformat.write(nb, incoming / f"{sid}.ipynb")
    (incoming / "not_json.ipynb").write_text("this is not a notebook {")
    cli.collect(course, A, incoming)
    with course.gradebook() as gb:
        gb.update_or_create_student(ODD_ID)  # in the class, no submission
    return root


def _grade(collected, tmp_path_factory, name, gradebook=None, **kw):
    root = tmp_path_factory.mktemp(name) / "course"
    shutil.copytree(collected, root)
    course = scratch_course(root, gradebook, **LIMITS)
    if gradebook:  # a new, empty gradebook: the class list, as in the collected course's
        with course.gradebook() as gb:
            gb.update_or_create_student(ODD_ID)
    status = cli.autograde(course, A, **kw)
    with course.gradebook() as gb:
        tests = {}
        for sub in gb.find_assignment(A).submissions:
            for snb in sub.notebooks:
                for g in snb.grades:
                    tests[(sub.student.id, g.name)] = g.score
    with open(root / "exports" / A / "autograde_log.csv", newline="") as f:
        log = {r["student_id"]: r for r in csv.DictReader(f)}
    scores = {r["student_id"]: r["score"] for r in cli.scores(course, A)}
    return dict(root=root, course=course, status=status, scores=scores, tests=tests, log=log)


@pytest.fixture(scope="module")
def sequential(collected, tmp_path_factory):
    return _grade(collected, tmp_path_factory, "seq")


@pytest.fixture(scope="module")
def parallel(collected, tmp_path_factory):
    from autograder.parallel import PrecomputedExecute

    before = PrecomputedExecute.fallbacks
    r = _grade(collected, tmp_path_factory, "par", workers=2)
    r["fallbacks"] = PrecomputedExecute.fallbacks - before
    return r


def _same_grades(a, b):
    assert a["status"] == b["status"]
    assert a["scores"] == b["scores"]
    assert a["tests"] == b["tests"]  # every test cell of every submission
    assert {s: r["notes"] for s, r in a["log"].items()} == {s: r["notes"] for s, r in b["log"].items()}


def test_sequential_grades_are_right(sequential):
    assert {s: sequential["scores"][s] for s in EXPECTED} == EXPECTED
    assert sequential["status"]["not_json"].startswith("failed")
    assert "cell timed out after 3 s" in sequential["log"]["loop_top"]["notes"]


def test_workers_give_the_same_grades_as_sequential(sequential, parallel):
    _same_grades(sequential, parallel)
    assert parallel["fallbacks"] == 0  # every notebook was executed by a worker, none twice
    # every graded submission records how long its sandboxed run took
    secs = {s: float(r["seconds"]) for s, r in parallel["log"].items()}
    assert secs["full_too"] >= 0.5 and secs["loop_top"] >= 3 and secs["not_json"] == 0


def test_parallel_run_leaves_no_lock_errors_and_no_scratch(parallel):
    assert all(st == "graded" for s, st in parallel["status"].items() if s != "not_json")
    assert "locked" not in parallel["status"]["not_json"]
    # autograded/ holds exactly what nbgrader writes there, like a sequential run
    got = sorted(p.name for p in (parallel["root"] / "autograded" / "full" / A).iterdir())
    assert got == sorted([f"{A}.ipynb", f"{A}.sandbox.json", "timestamp.txt"])


def test_jobs_carry_data_not_course_paths(collected, tmp_path):
    """What a (possibly remote) worker receives: relative file names, bytes, plain settings."""
    import pickle

    from autograder import parallel as par

    course = scratch_course(collected, **LIMITS)
    job = par.prepare(course, A, "full", tmp_path, par._settings(course.config))
    assert sorted(job["files"]) == [f"{A}.ipynb", "timestamp.txt"] and job["notebooks"] == [A]
    blob = pickle.dumps(job)
    assert str(collected).encode() not in blob and b"gradebook" not in blob
    assert job["settings"]["timeout"] == 3 and "hidden" not in str(job["settings"])
    nb = nbformat.reads(job["files"][f"{A}.ipynb"].decode(), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # sanitized


def test_dask_cluster_gives_the_same_grades(collected, tmp_path_factory, sequential):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=DASK_PROCESSES,
                                  dashboard_address=None, worker_dashboard_address=None) as cluster:
        r = _grade(collected, tmp_path_factory, "dask", scheduler=cluster.scheduler_address)
    _same_grades(sequential, r)


def test_postgresql_gradebook_gives_the_same_grades(collected, tmp_path_factory, sequential):
    """DLCV_GRADEBOOK=postgresql+psycopg://... : a throwaway local cluster (initdb in a temporary
    folder, a Unix socket, no TCP), graded with 2 workers: the same grades as SQLite's."""
    why = postgres_missing()
    if why:
        pytest.skip(f"no PostgreSQL to test with: {why}")
    with postgres_cluster() as url:
        r = _grade(collected, tmp_path_factory, "pg", gradebook=url, workers=2)
        assert r["course"].coursedir.db_url.startswith("postgresql+psycopg://")
        assert not (r["root"] / "gradebook.db").exists() or \
            (r["root"] / "gradebook.db").stat().st_mtime == (collected / "gradebook.db").stat().st_mtime
        rows = {x["student_id"]: x for x in cli.scores(r["course"], A)}
        out = cli.export(r["course"], A)
    _same_grades(sequential, r)
    assert rows[ODD_ID]["status"] == "missing" and rows["full"]["score"] == 5
    assert "7 students, 6 submissions, 5 graded" in (out.parent / "report.md").read_text()


def test_workers_must_be_positive(collected):
    course = scratch_course(collected, **LIMITS)
    with pytest.raises(cli.UsageError, match="--workers must be at least 1"):
        cli.autograde(course, A, workers=0)
    args = cli.build_parser().parse_args(["grade", A, "--workers", "4", "--scheduler", "tcp://h:8786"])
    assert (args.workers, args.scheduler, args.path) == (4, "tcp://h:8786", None)


def test_export_csv_quotes_odd_ids_and_messages(parallel):
    course, root = parallel["course"], parallel["root"]
    log = root / "exports" / A / "autograde_log.csv"
    rows = list(csv.reader(io.StringIO(log.read_text())))
    message = 'failed: "bad" notebook, line 1\nand a second line | with a pipe'
    rows = [r if r[0] != "not_json" else [r[0], message, r[2], r[3]] for r in rows]
    with open(log, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = cli.export(course, A)
    with open(out, newline="", encoding="utf-8") as f:
        got = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(got) == set(CASES) | {"not_json", ODD_ID}
    assert got[ODD_ID]["status"] == "missing" and got[ODD_ID]["score"] == "0"
    assert got["not_json"]["status"] == message
    assert got["full"]["percent"] == "100.0" and float(got["loop_top"]["seconds"]) >= 3
    raw = out.read_text()
    assert '"O""Hara, Jr.\nline two"' in raw  # RFC 4180: quoted, inner quotes doubled


def test_report_content(parallel):
    out = cli.export(parallel["course"], A)
    report = (out.parent / "report.md").read_text()
    assert (out.parent / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = report.splitlines()
    assert "7 students, 6 submissions, 5 graded, 1 not graded, 1 missing. Maximum score 5." in report
    # histogram: 2 at 100 %, 3 at 40 % (2 of 5 points), the ungraded one at 0 %
    assert "| 90-100% | 2 |" in report and "| 40-50% | 3 |" in report and "| 0-10% | 1 |" in report
    # per-test pass rates from the gradebook: test_double passed by full and full_too only; the
    # notebook that could not be read was not autograded
    # (kind, points, full, partial, zero, mean, pass rate)
    row = next(ln for ln in lines if "| test_double |" in ln)
    assert [c.strip() for c in row.split("|")[3:10]] == ["auto", "3", "2", "0", "3", "1.20",
                                                         "40 % (1 not autograded)"], row
    row = next(ln for ln in lines if "| test_triple |" in ln)
    assert [c.strip() for c in row.split("|")[3:10]] == ["auto", "2", "5", "0", "0", "2.00",
                                                         "100 % (1 not autograded)"], row
    # the slowest first, with the seconds the log recorded (which one is slowest is the machine's
    # business: the infinite loop takes its 3 s timeout, but on a busy machine a kernel that is
    # started twice, as os_exit's, may take as long)
    at = lines.index(next(ln for ln in lines if ln.startswith("## Slowest")))
    end = next(j for j in range(at + 1, len(lines)) if lines[j].startswith("## "))
    slow = [ln for ln in lines[at:end] if ln.startswith("| ") and not ln.startswith("| student")]
    rows = [[c.strip() for c in ln.split("|")[1:3]] for ln in slow]
    seconds = [float(x) for _, x in rows]
    assert seconds == sorted(seconds, reverse=True), slow
    assert dict(rows) == {s: f"{float(r['seconds']):.1f}" for s, r in parallel["log"].items()
                          if r["seconds"]}, slow
    assert float(dict(rows)["loop_top"]) >= 3
    # failing submissions with their reasons, one line each (a line break or pipe would break the table)
    fail = report[report.index("## Failing"):report.index("## Collection")]
    assert "| loop_top | 2 | graded | cell 2: cell timed out after 3 s |" in fail
    assert "| os_exit | 2 | graded | cell 2: the kernel died (segfault or os._exit): exit code 1" in fail
    assert "| not_json | 0 | failed |" in fail
    assert '| O"Hara, Jr. line two | 0 | missing | no submission |' in fail
    assert "| full |" not in fail and "| full_too |" not in fail
    # what collect did: every notebook collected, nothing to say about any
    assert "6 notebook(s) collected, 0 skipped, 0 collected with a note." in report
