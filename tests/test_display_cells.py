"""The assignments' display cells (neither answer nor test cells: plots, timings, training runs)
run the student's functions inside `with needs(...)` (dlcv.checks), so that on a half-done
notebook each stops with one line naming what is missing, not a NotImplementedError traceback or
a NameError; each test cell sits right after the function it tests; and a test block that runs
other functions the student writes names them in checking(uses=...). Static: the jupytext
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


# ------------------------------------------------------------------------------------------
# checking(..., uses=...): a test block names the student's other functions it runs
# ------------------------------------------------------------------------------------------
def _solution_in(lines: list[str], node) -> bool:
    return any("### BEGIN SOLUTION" in ln for ln in lines[node.lineno - 1:node.end_lineno])


def _functions(cells) -> dict:
    """name -> (node, its class or None, written by the student) of the functions and methods
    defined at the top level of the code cells ("f", "C" for a class, "C.m" for a method); the
    student writes those of the answer cells that hold a solution."""
    out = {}
    for cell in cells:
        lines, answer = cell.source.splitlines(), _kind(cell) == "answer"
        for s in _tree(cell.source).body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out[s.name] = (s, s.name if isinstance(s, ast.ClassDef) else None,
                               answer and _solution_in(lines, s))
            if isinstance(s, ast.ClassDef):
                for m in s.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        out[f"{s.name}.{m.name}"] = (m, s.name, answer and _solution_in(lines, m))
    return out


def _called(node, cls, functions) -> set[str]:
    """The functions (not classes: which of their methods run is not known here) that a body
    names: plain names, and self.m of its own class."""
    names = {n for n in _loads(node) if n in functions and not isinstance(functions[n][0], ast.ClassDef)}
    if cls is not None:
        names |= {f"{cls}.{a.attr}" for a in ast.walk(node)
                  if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name)
                  and a.value.id == "self" and f"{cls}.{a.attr}" in functions}
    return names


def _runs(start, functions) -> set[str]:
    """The student's functions that running `start` runs, through given code too."""
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            node, cls, _ = functions[name]
            todo += _called(node, cls, functions)
    return {n for n in seen if functions[n][2]}


def _listed(expr, cell: ast.Module) -> set[str] | None:
    """The names a uses= expression can give: strings, tuples, `a if c else b`, `a + b`, a name
    the cell assigns, and f"{x}_forward" for a loop `for x in ("a", "b")` of the cell (every value).
    None when the expression is none of these."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.JoinedStr):
        out = {""}
        for v in expr.values:
            loops = [] if isinstance(v, ast.Constant) else [
                f.iter.elts for f in ast.walk(cell)
                if isinstance(f, ast.For) and isinstance(f.target, ast.Name) and isinstance(v.value, ast.Name)
                and f.target.id == v.value.id and isinstance(f.iter, (ast.Tuple, ast.List))]
            if not isinstance(v, ast.Constant) and (len(loops) != 1 or not all(
                    isinstance(e, ast.Constant) for e in loops[0])):
                return None
            values = [v.value] if isinstance(v, ast.Constant) else [str(e.value) for e in loops[0]]
            out = {o + x for o in out for x in values}
        return out
    if isinstance(expr, (ast.Tuple, ast.List)):
        parts = [_listed(e.value if isinstance(e, ast.Starred) else e, cell) for e in expr.elts]
    elif isinstance(expr, ast.IfExp):
        parts = [_listed(expr.body, cell), _listed(expr.orelse, cell)]
    elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        parts = [_listed(expr.left, cell), _listed(expr.right, cell)]
    elif isinstance(expr, ast.Name):
        parts = [_listed(s.value, cell) for s in cell.body if isinstance(s, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == expr.id for t in s.targets)] or [None]
    else:
        return None
    return None if any(p is None for p in parts) else set().union(*parts)


_NORM = {"batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward"}
_DROPOUT = {"dropout_forward", "dropout_backward"}
# Branches a test block does not take, which the static reading cannot tell (a2's
# FullyConnectedNet.loss calls the normalisation and dropout layers only when it has them).
NOT_RUN = {"test_fc_net": _NORM | _DROPOUT, "test_fc_net_norm": _DROPOUT, "test_fc_net_dropout": _NORM}


def _uses_problems(path) -> list[str]:
    cells = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    functions = _functions(cells)
    students = {n for n, (_, _, own) in functions.items() if own}
    problems = []
    for cell in cells:
        if _kind(cell) != "test":
            continue
        tree, gid = _tree(cell.source), cell.metadata["nbgrader"]["grade_id"]
        for block in (w for w in ast.walk(tree) if isinstance(w, ast.With)):
            for call in (i.context_expr for i in block.items):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id == "checking"):
                    continue
                fn = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else None
                uses = next((k.value for k in call.keywords if k.arg == "uses"), None)
                listed = set() if uses is None else _listed(uses, tree)
                where = f"{gid}, checking({fn!r}) at line {block.lineno} of the cell"
                if listed is None:
                    problems.append(f"{where}: uses= is not a tuple of names this test can read")
                    continue
                # what the block calls itself, and what the function it checks calls
                start = {n for s in block.body for n in _loads(s)
                         if n in functions and not isinstance(functions[n][0], ast.ClassDef)}
                if fn in functions and not isinstance(functions[fn][0], ast.ClassDef):
                    start |= _called(*functions[fn][:2], functions)
                missing = sorted(_runs(start - {fn}, functions) - {fn} - NOT_RUN.get(gid, set()) - listed)
                if missing:
                    problems.append(f"{where}: runs the student's {missing}, which uses= does not name")
                strange = sorted(n for n in listed if n not in students or n == fn)
                if strange:
                    problems.append(f"{where}: uses= names {strange}, not another function the student "
                                    "writes")
    return problems


@pytest.mark.parametrize("path", TWINS, ids=lambda p: str(p.relative_to(REPO)))
def test_a_test_names_the_other_functions_it_runs(path):
    """A test block that runs other functions the student writes (the forward pass in a backward
    test, the layers of a network, what the function checked calls) names them in
    checking(uses=...), so that a failure can say they may be the cause. A lower bound: calls
    through objects (model.loss) are not followed, so a test of a trained model may list more."""
    problems = _uses_problems(path)
    assert not problems, f"{notebook_id(path)}:\n  " + "\n  ".join(problems)


def test_the_check_sees_a_test_that_does_not_name_what_it_runs(tmp_path):
    answer = ('# %% nbgrader={"grade": false, "grade_id": "GID", "locked": false, "schema_version": 3, '
              '"solution": true, "task": false}\n')
    test = ('# %% nbgrader={"grade": true, "grade_id": "test_GID", "locked": true, "points": 1, '
            '"schema_version": 3, "solution": false, "task": false}\n')
    twin = tmp_path / "a0.py"
    twin.write_text(
        '# %%\nfrom dlcv.checks import checking\n\n'
        + answer.replace("GID", "g") + 'def g(x):\n    ### BEGIN SOLUTION\n    return x\n'
        '    ### END SOLUTION\n\n'
        + answer.replace("GID", "f") + 'def f(x):\n    ### BEGIN SOLUTION\n    return g(x)\n'
        '    ### END SOLUTION\n\n'
        + test.replace("GID", "f") + 'with checking("f"):\n    f(1)\n'
        'for _k in ("g", "h"):\n    with checking("f", uses=(f"{_k}",)):\n        f(1)\n'
        'with checking("f", uses=("g",)):\n    f(1)\n')
    found = _uses_problems(twin)
    assert len(found) == 2, found
    assert "line 1 of the cell: runs the student's ['g'], which uses= does not name" in found[0]
    assert "uses= names ['h'], not another function the student writes" in found[1]
