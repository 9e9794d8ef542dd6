"""The assignments' display cells (neither answer nor test cells: plots, timings, training runs)
run the student's functions inside `with needs(...)` (dlcv.checks), so that on a half-done
notebook each stops with one line naming what is missing, not a NotImplementedError traceback or
a NameError; and each test cell sits right after the function it tests. Static: the jupytext
twins are read, nothing is run (tests/test_notebooks.py runs the source notebooks)."""

from __future__ import annotations

import ast

import jupytext
import pytest
from conftest import ASSIGNMENTS, REPO, notebook_id

TWINS = [p.with_suffix(".py") for p in ASSIGNMENTS]


def _kind(cell) -> str:
    m = cell.metadata.get("nbgrader", {}) or {}
    return "answer" if m.get("solution") else "test" if m.get("grade") else "display"


def _tree(source: str) -> ast.Module:
    """A cell's code without its IPython magics."""
    return ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                               for ln in source.splitlines()))


def _loads(node) -> set[str]:
    """The names a statement reads and does not bind itself (a comprehension's own variables,
    a lambda's arguments and the like are not read from the notebook)."""
    nodes = list(ast.walk(node))
    bound = ({n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
             | {n.arg for n in nodes if isinstance(n, ast.arg)})
    return {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def _binds(node) -> set[str]:
    """The names a statement binds in the notebook's namespace (not those local to a function, a
    lambda or a comprehension in it)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return set()
    out = {node.id} if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) else set()
    for child in ast.iter_child_nodes(node):
        out |= _binds(child)
    return out


def _needs_args(stmt) -> list[str] | None:
    """The names of a `with needs("a", "b"):` statement; None for any other statement."""
    if not isinstance(stmt, ast.With):
        return None
    for item in stmt.items:
        call = item.context_expr
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "needs":
            return [a.value if isinstance(a, ast.Constant) else None for a in call.args]
    return None


def _problems(path) -> list[str]:
    nb = jupytext.read(path)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    student: set[str] = set()  # what answer cells define: functions, classes, results
    derived: set[str] = set()  # defined by given code from the student's (LinearSVM, ShapesDetector)
    computed: set[str] = set()  # bound inside a `with needs` block
    problems, used_needs = [], False
    for n, cell in enumerate(cells):
        tree = _tree(cell.source)
        if _kind(cell) == "answer":
            student |= {name for stmt in tree.body for name in _binds(stmt)} - {"_"}
            continue
        if _kind(cell) == "test":
            continue
        first = cell.source.strip().splitlines()[0][:60]
        for stmt in tree.body:
            args = _needs_args(stmt)
            if args is not None:
                used_needs = True
                bad = [a for a in args if not isinstance(a, str) or a.split(".")[0] not in student]
                if bad or not args:
                    problems.append(f"code cell {n} ({first!r}): needs{tuple(args)} should name functions "
                                    f"or results of the answer cells; {bad or 'none'} is not one")
                direct = sorted(_loads(stmt) & student - {str(a).split(".")[0] for a in args})
                if direct:
                    problems.append(f"code cell {n} ({first!r}): its `with needs` block calls {direct} "
                                    "without naming them in needs(...)")
                computed |= {name for s in stmt.body for name in _binds(s)}
            elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                if _loads(stmt) & (student | derived | computed):
                    derived.add(stmt.name)
            else:
                uses = sorted(_loads(stmt) & (student | derived | computed))
                if uses:
                    problems.append(f"code cell {n} ({first!r}), line {stmt.lineno}: uses {uses} outside "
                                    "`with needs(...)`")
                rebound = _binds(stmt)
                computed -= rebound
                derived -= rebound
    first_cells = "\n".join(c.source for c in cells[:2])
    if used_needs and "needs" not in first_cells:
        problems.append("the import cell does not import needs from dlcv.checks")
    return problems


@pytest.mark.parametrize("path", TWINS, ids=lambda p: str(p.relative_to(REPO)))
def test_display_cells_run_the_students_code_inside_needs(path):
    problems = _problems(path)
    assert not problems, f"{notebook_id(path)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", TWINS, ids=lambda p: str(p.relative_to(REPO)))
def test_a_test_of_one_function_comes_right_after_it(path):
    """A test cell that needs one answer cell follows it, with no other answer cell in between
    (tests that run several functions, such as an accuracy at the end of a part, may come later)."""
    last, misplaced = None, []
    for cell in jupytext.read(path).cells:
        m = cell.metadata.get("nbgrader", {}) or {}
        if _kind(cell) == "answer" and cell.cell_type == "code":
            last = m.get("grade_id")
        elif _kind(cell) == "test":
            requires = (cell.metadata.get("dlcv", {}) or {}).get("requires") or []
            if len(requires) == 1 and requires[0] != last:
                misplaced.append(f"{m.get('grade_id')} (tests {requires[0]}) comes after answer cell {last}")
    assert not misplaced, f"{notebook_id(path)}: " + "; ".join(misplaced)


def test_the_check_sees_a_display_cell_outside_needs(tmp_path):
    """The static check itself: a display cell calling an answer's function unguarded is found,
    and one that uses a result computed inside another cell's `with needs` block too."""
    twin = tmp_path / "a0.py"
    twin.write_text(
        '# %%\nfrom dlcv.checks import needs\n\n'
        '# %% nbgrader={"grade": false, "grade_id": "f", "locked": false, "schema_version": 3, '
        '"solution": true, "task": false}\ndef f():\n    return 1\n\n'
        '# %%\nwith needs("f"):\n    x = f()\n\n'
        '# %%\nprint(x)\n\n'
        '# %%\ny = f()\n\n'
        '# %%\nwith needs("g"):\n    z = f()\n')
    found = _problems(twin)
    assert len(found) == 4, found
    assert "uses ['x'] outside" in found[0] and "uses ['f'] outside" in found[1]
    assert "['g'] is not one" in found[2] and "calls ['f'] without naming them" in found[3]
