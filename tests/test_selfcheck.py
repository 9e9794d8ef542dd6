"""The student self-check (autograder/selfcheck.py) on a1's student edition: untouched, every
visible test fails with a clear message and 0 points; solved, every visible test passes."""

from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest
from autograder_helpers import scratch_course
from conftest import REPO

from autograder import cli, selfcheck
from autograder import notebooks as nbs

pytestmark = pytest.mark.nbgrader

A = "a1_knn_linear"


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    root = tmp_path_factory.mktemp("selfcheck_course")
    shutil.copytree(REPO / "assignments" / A, root / "assignments" / A)
    course = scratch_course(root)
    cli.release(course, A)
    student = nbs.read(root / "release" / A / f"{A}.ipynb")
    home = tmp_path_factory.mktemp("student_home")  # no instructor files here
    blank, solved = home / f"{A}.ipynb", home / "solved" / f"{A}.ipynb"
    solved.parent.mkdir()
    nbformat.write(student, blank)
    nb = nbs.with_solutions(student, nbs.read(root / "assignments" / A / f"{A}.ipynb"))
    # the in-notebook call, as a student would add it: it must not recurse in the fresh kernel
    nb.cells.append(nbformat.v4.new_code_cell(
        "from autograder.selfcheck import check_notebook\ncheck_notebook()"))
    nbformat.write(nb, solved)
    return dict(blank=blank, solved=solved, source=nbs.read(root / "assignments" / A / f"{A}.ipynb"))


def test_student_edition_fails_every_visible_test_clearly(editions):
    proc = subprocess.run([sys.executable, "-m", "autograder.selfcheck", str(editions["blank"])],
                          capture_output=True, text=True, cwd=editions["blank"].parent, timeout=600)
    out = proc.stdout
    n = len(nbs.test_cells(editions["source"]))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert out.count("  FAILED   ") == n and "  passed   " not in out
    assert "is not implemented yet" in out
    assert f"visible tests passed: 0 of {n} test cells, 0 of" in out
    assert "hidden tests" in out.lower() and "may still fail" in out


def test_solved_notebook_passes_every_visible_test(editions, capsys):
    results = selfcheck.check_notebook(editions["solved"])
    out = capsys.readouterr().out
    n = len(nbs.test_cells(editions["source"]))
    total = sum(t["points"] for t in nbs.test_cells(editions["source"]).values())
    assert len(results) == n and all(r.passed for r in results), out
    assert f"visible tests passed: {n} of {n} test cells, {total:g} of {total:g} points" in out
    assert "compute_distances_two_loops" in out  # lines name the functions tested


def test_in_notebook_call_does_nothing_under_nbgrader(monkeypatch, capsys, tmp_path):
    """Left in a submission, the call must not run the notebook again inside Validate or grading."""
    monkeypatch.delenv(selfcheck.SELFCHECK_ENV, raising=False)
    for mode in ("validate", "autograde"):
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
        assert selfcheck.check_notebook(tmp_path / "missing.ipynb") is None
        assert "does nothing while nbgrader runs the notebook" in capsys.readouterr().out


def test_the_grading_rules_apply_in_the_self_check(editions, tmp_path, capsys):
    """The student edition carries its part's rules: an answer that imports scipy fails here with
    the message grading would give, not only when graded."""
    nb = nbs.read(editions["solved"])
    assert nb.metadata["dlcv"]["grading"]["blocked"][:3] == ["torch", "functorch", "torchgen"]
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "knn_two_loops":
            c.source = ("from scipy.spatial.distance import cdist\n\n"
                        "def compute_distances_two_loops(X_test, X_train):\n"
                        "    return cdist(X_test, X_train)")
    nb.cells = nb.cells[:-1]  # without the in-notebook call
    path = tmp_path / f"{A}.ipynb"
    nbformat.write(nb, path)
    results = {r.grade_id: r for r in selfcheck.report(path)}
    out = capsys.readouterr().out
    assert not results["test_knn_two_loops"].passed
    assert ("the answer cell 'knn_two_loops' itself failed: ImportError at line 1 (`from scipy.spatial."
            "distance import cdist`): scipy is not available while this part is graded"
            ) in results["test_knn_two_loops"].message, out[-3000:]
    assert results["test_knn_one_loop"].passed


def test_an_answer_cell_that_stops_is_listed_with_its_line(tmp_path, capsys):
    """Any answer cell of any assignment that stops with an error is listed, a SyntaxError with
    its line; a test that needs the cell names it (not "... is not defined")."""
    def cell(source, **nbgrader):
        meta = {"nbgrader": {"grade_id": nbgrader.pop("gid"), "locked": False, "schema_version": 3,
                             "task": False, **nbgrader}}
        if "requires" in meta["nbgrader"]:
            meta["dlcv"] = {"requires": meta["nbgrader"].pop("requires")}
        return nbformat.v4.new_code_cell(source, metadata=meta)

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np\nfrom dlcv.checks import checking"),
        cell("def square(x):\n    return x *\n", gid="square", solution=True, grade=False),
        cell("def cube(x):\n    return x ** 3\n\nnp.cubed\n", gid="cube", solution=True, grade=False),
        cell("with checking('square'):\n    square(2)", gid="test_square", solution=False, grade=True,
             points=1, requires=["square"]),
    ])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    results = selfcheck.report(path, cell_timeout=60)
    out = capsys.readouterr().out
    assert ("  FAILED   answer cell 'square' stopped with SyntaxError at line 2 (`return x *`): invalid "
            "syntax. Until it runs without an error, the tests of its functions fail.") in out, out
    assert ("  FAILED   answer cell 'cube' stopped with AttributeError at line 4 (`np.cubed`): module "
            "'numpy' has no attribute 'cubed'") in out, out  # no test needs it: listed all the same
    assert "Fix the answer cells listed above first" in out
    assert results[0].message == ("the answer cell 'square' itself failed: SyntaxError at line 2 "
                                  "(`return x *`): invalid syntax"), results[0].message


@pytest.mark.parametrize("notebook", sorted((REPO / "assignments").glob("*/*.ipynb")), ids=lambda p: p.stem)
def test_every_answer_cell_is_named_by_a_test_that_needs_it(notebook):
    """A test cell whose answer cell stopped with an error names that cell (the self-check reads
    `requires`): so every answer cell must be required by some test."""
    nb = nbs.read(notebook)
    required = {g for t in nbs.test_cells(nb).values() for g in t["requires"]}
    assert set(nbs.answer_cells(nb)) <= required, sorted(set(nbs.answer_cells(nb)) - required)


def test_written_status_names_the_questions_still_to_answer():
    from autograder_helpers import source_notebook

    from autograder.selfcheck import written_status

    nb = source_notebook(written=True)
    assert written_status(source_notebook()) == ""
    assert written_status(nb) == ("written questions: 1 of 1 answered (2 points, graded by hand by "
                                  "your instructor)")
    nb.cells[-1].source = "YOUR ANSWER HERE"
    assert written_status(nb).endswith("0 of 1 answered (2 points, graded by hand by your "
                                       "instructor); still to answer: written_twice")
