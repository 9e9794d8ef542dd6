"""What the autograder's tests share: a scratch course's configuration, the tiny assignment of the
adversarial corpus, and ways to read what grading left behind.

Import it by name (`from autograder_helpers import scratch_course`); pytest puts tests/ on the
path. Not a conftest: the fixtures of each test module stay in that module. The cheating
submissions of a6 and a7 are graded with `graded_submission` and read with `verdicts`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from conftest import REPO

from autograder import cli
from autograder import notebooks as nbs
from autograder.course import Course, load_config

RIGHT_DOUBLE = "def double(x):\n    return 2 * x"
RIGHT_TRIPLE = "def triple(x):\n    return 3 * x"


# ------------------------------------------------------------------------------------------
# a scratch course
# ------------------------------------------------------------------------------------------
def scratch_config(root: Path, gradebook: str | None = None, **sandbox):
    """The course configuration (autograder/nbgrader_config.py) of a scratch course at `root`:
    its gradebook is SQLite in `root` (or the SQLAlchemy URL `gradebook`) and the sandbox is on,
    whatever DLCV_GRADEBOOK and DLCV_SANDBOX say in the caller's environment, which is left as
    it was. Keyword arguments set `SandboxedExecute` options (timeout=5, ...)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DLCV_COURSE_ROOT", str(root))  # read once, when the config file is loaded
    if gradebook:  # the instructor's way: DLCV_GRADEBOOK
        mp.setenv("DLCV_GRADEBOOK", gradebook)
    else:
        mp.delenv("DLCV_GRADEBOOK", raising=False)
    mp.delenv("DLCV_SANDBOX", raising=False)
    try:
        config = load_config()
    finally:
        mp.undo()
    assert config.CourseDirectory.db_url == (gradebook or f"sqlite:///{root / 'gradebook.db'}")
    for name, value in sandbox.items():
        setattr(config.SandboxedExecute, name, value)
    return config


def scratch_course(root: Path, gradebook: str | None = None, **sandbox) -> Course:
    """Course on scratch_config(root, gradebook, **sandbox)."""
    return Course(scratch_config(root, gradebook, **sandbox))


# ------------------------------------------------------------------------------------------
# a throwaway PostgreSQL cluster (Debian's postgresql package, psycopg from PyPI)
# ------------------------------------------------------------------------------------------
def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server program (initdb, pg_ctl): on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which(name)
    if found:
        return found
    def version(path: str) -> int:
        v = Path(path).parent.parent.name
        return int(v) if v.isdigit() else 0

    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    return versions[-1] if versions else None


def postgres_missing() -> str | None:
    """Why no throwaway cluster can be started here (None: it can)."""
    if not (postgres_bin("initdb") and postgres_bin("pg_ctl")):
        return ("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql, "
                "or `make setup-postgres`)")
    try:
        import psycopg  # noqa: F401 - only whether it is installed
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]', or `make setup-postgres`)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no unprivileged `postgres` user to run the server"
    return None


@contextlib.contextmanager
def postgres_cluster(database: str = "dlcv"):
    """A PostgreSQL cluster in a temporary folder, listening on a Unix socket only (no TCP),
    with one empty database; yields its SQLAlchemy URL and is removed afterwards. The server
    runs as the current user, or as `postgres` when that is root (initdb refuses root)."""
    import psycopg

    tmp = Path(tempfile.mkdtemp(prefix="dlcv-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
        run_as = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]
    data, log = tmp / "data", tmp / "server.log"

    def pg(*argv, timeout=300):  # a guard against a hang: initdb takes a while on a busy machine
        r = subprocess.run([*run_as, *argv], capture_output=True, text=True, timeout=timeout,
                           cwd=tmp, env={**os.environ, "LC_ALL": "C"})
        if r.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(map(str, argv))} failed: {r.stdout}{r.stderr}{tail}")

    try:
        pg(postgres_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
           "--locale=C", "--no-sync")
        pg(postgres_bin("pg_ctl"), "-D", data, "-l", log, "-w", "-t", "240", "start", "-o",
           f"-k {tmp} -c listen_addresses='' -c fsync=off -c full_page_writes=off "
           "-c synchronous_commit=off")
        try:
            with psycopg.connect(host=str(tmp), user="postgres", dbname="postgres", autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{database}"')
            yield f"postgresql+psycopg://postgres@/{database}?host={tmp}"
        finally:
            pg(postgres_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# the tiny assignment: a set-up cell, `double` (3-point test), `triple` (2-point test)
# ------------------------------------------------------------------------------------------
WRITTEN_ANSWER = ("**Model answer.** Doubling twice multiplies by four.\n\n"
                  "**Rubric (2 points).**\n- 1 point: multiplies by four\n- 1 point: says why")


def source_notebook(written: bool = False) -> nbformat.NotebookNode:
    """The instructor's notebook: each test checks one answer (its `dlcv.requires`), with a
    visible and a hidden case; with `written`, a written question (2 points, graded by hand)."""
    def meta(**kw):
        base = dict(schema_version=3, locked=False, solution=False, grade=False, task=False)
        base.update(kw)
        return {"nbgrader": base}

    def test(name, points, code):
        return nbformat.v4.new_code_cell(
            f'with checking("{name}"):\n    {code}',
            metadata={**meta(grade=True, locked=True, points=points, grade_id=f"test_{name}"),
                      "dlcv": {"requires": [name]}})

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Adversarial corpus"),
        nbformat.v4.new_code_cell("from dlcv.checks import checking, expect_close",
                                  metadata=meta(locked=True, grade_id="setup")),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                                  "    ### END SOLUTION", metadata=meta(solution=True, grade_id="double")),
        test("double", 3, 'expect_close(double(2), 4, "double(2)")'),
        nbformat.v4.new_code_cell("def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n"
                                  "    ### END SOLUTION", metadata=meta(solution=True, grade_id="triple")),
        test("triple", 2, 'expect_close(triple(2), 6, "triple(2)")'),
    ]
    if written:
        nb.cells += [
            nbformat.v4.new_markdown_cell("### Written question 1 (2 points)\n\nWhat does "
                                          "`double(double(x))` compute?",
                                          metadata=meta(locked=True, grade_id="written_twice_question")),
            nbformat.v4.new_markdown_cell(WRITTEN_ANSWER, metadata=meta(
                grade=True, solution=True, points=2, grade_id="written_twice")),
        ]
    return nb


TINY_HIDDEN_TESTS = '''"""Hidden tests of the tiny assignment: each repeats its visible case and adds more."""
import numpy as np

from autograder.hidden import NUMPY_ONLY, HiddenTests, case
from dlcv.checks import expect_close

tests = HiddenTests(blocked=NUMPY_ONLY, dlcv=["checks"])


@tests.test("test_double")
def _(st, ref):
    with case("double", "double(2)"):
        expect_close(st.double(2), 4, "double(2)")
    with case("double", "a negative number"):
        expect_close(st.double(-3), ref.double(-3), "double(-3)")
    x = np.arange(3.0)
    with case("double", "an array"):
        expect_close(st.double(x), ref.double(x), "double([0, 1, 2])")


@tests.test("test_triple")
def _(st, ref):
    with case("triple", "triple(2)"):
        expect_close(st.triple(2), 6, "triple(2)")
    with case("triple", "a negative number"):
        expect_close(st.triple(-1), ref.triple(-1), "triple(-1)")
'''


def tiny_course(root: Path, a: str, written: bool = False, **sandbox) -> Course:
    """A scratch course at `root` holding the tiny assignment `a` (its hidden tests in
    hidden_tests.py; with `written`, a written question), released."""
    (root / "assignments" / a).mkdir(parents=True)
    nbformat.write(source_notebook(written), root / "assignments" / a / f"{a}.ipynb")
    (root / "assignments" / a / "hidden_tests.py").write_text(TINY_HIDDEN_TESTS)
    course = scratch_course(root, **sandbox)
    cli.release(course, a)
    return course


def solved(root: Path, a: str) -> nbformat.NotebookNode:
    """The student edition of `a` with every answer right."""
    return nbs.with_solutions(nbs.read(root / "release" / a / f"{a}.ipynb"),
                              nbs.read(root / "assignments" / a / f"{a}.ipynb"))


def set_cell(nb, grade_id: str, source: str) -> None:
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id).source = source


# ------------------------------------------------------------------------------------------
# what grading left behind
# ------------------------------------------------------------------------------------------
def course_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file of the course's sources, releases and submissions."""
    out = {}
    for sub in ("assignments", "release", "submitted"):
        for p in sorted((root / sub).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def autograded(root: Path, a: str, student: str) -> nbformat.NotebookNode:
    return nbs.read(root / "autograded" / student / a / f"{a}.ipynb")


def graded_submission(root: Path, a: str, cells: dict, student: str = "mallory") -> dict:
    """A scratch course with `a` released and one submission collected, autograded and given
    feedback: the student edition with every answer right, except the answer cells in `cells`
    (grade_id -> their new source, or a function of the reference's source).
    dict(root, course, source, status)."""
    shutil.copytree(REPO / "assignments" / a, root / "assignments" / a)
    course = scratch_course(root)
    cli.release(course, a)
    source = nbs.read(root / "assignments" / a / f"{a}.ipynb")
    answers = nbs.answer_cells(source)
    nb = nbs.with_solutions(nbs.read(root / "release" / a / f"{a}.ipynb"), source)
    for gid, new in cells.items():
        set_cell(nb, gid, new(answers[gid].source) if callable(new) else new)
    incoming = root / "incoming"
    incoming.mkdir()
    nbformat.write(nb, incoming / f"{student}.ipynb")
    cli.collect(course, a, incoming)
    status = cli.autograde(course, a)
    cli.feedback(course, a)
    return dict(root=root, course=course, source=source, status=status)


def assert_loses_exactly(graded: dict, a: str, lost: tuple[str, ...], student: str = "mallory") -> None:
    """The submission scored all the automatic points but those of the test cells `lost`, which
    scored 0: in the exported scores and in the gradebook, cell by cell."""
    assert graded["status"][student] == "graded"
    tests = nbs.test_cells(graded["source"])
    expected = sum(t["points"] for t in tests.values()) - sum(tests[g]["points"] for g in lost)
    row = next(r for r in cli.scores(graded["course"], a) if r["student_id"] == student)
    assert row["auto_score"] == expected
    with graded["course"].gradebook() as gb:
        sub = gb.find_submission_notebook(a, a, student)
        cells = {g.name: g.score for g in sub.grades if g.name in tests}
    assert {g for g, s in cells.items() if s == 0} == set(lost)


def verdicts(graded: dict, a: str, student: str = "mallory") -> dict[str, str]:
    """grade_id -> the trusted verdict (the last output) of every test cell of a graded notebook."""
    tests = nbs.test_cells(graded["source"])
    out = {}
    for c in autograded(graded["root"], a, student).cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests and c.outputs:
            last = c.outputs[-1]
            out[gid] = last.get("evalue") or last.get("text", "")
    return out


def page_text(path: Path) -> str:
    """An HTML page's text: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def outputs_text(nb) -> str:
    """Every output of every code cell, as text (streams, and errors as `ename: evalue`)."""
    return "\n".join(o.get("text", "") + o.get("ename", "") + ": " + o.get("evalue", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
