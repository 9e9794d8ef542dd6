"""The layout of dlcv (ARCHITECTURE.md): the kernel imports no room, a room imports only the
kernel, itself and rooms of earlier lectures, only widgets modules import ipywidgets and nothing
imports a widgets module, and every room says in its docstring what it holds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import REPO

DLCV = REPO / "dlcv"
ROOMS = ["classification", "optimization", "networks", "convolution", "evaluation", "detection",
         "segmentation", "recurrent", "captioning", "transformers", "selfsupervised",
         "understanding",
         "generative", "beyond"]  # in the order of the lectures
KERNEL = sorted(p.stem for p in DLCV.glob("*.py") if p.stem != "__init__")
MODULES = sorted(p for p in DLCV.rglob("*.py"))


def room_of(path: Path) -> str | None:
    rel = path.relative_to(DLCV)
    return rel.parts[0] if len(rel.parts) > 1 else None


SANDBOX_OPTIONAL = "# optional in a sandbox"


def imports(path: Path, sandbox: bool = False) -> list[str]:
    """Every module `path` imports (dotted), including the names of `from X import name`.

    sandbox=True: what `path` needs wherever a grading sandbox mounts it, so an import inside a
    function whose line says SANDBOX_OPTIONAL is left out (a path the sandbox never takes, e.g.
    adversarial training, which needs the lecture's attacks that an assignment leaves out)."""
    tree, lines = ast.parse(path.read_text()), path.read_text().splitlines()
    functions = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    optional = {node.lineno for fn in functions for node in ast.walk(fn)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                and SANDBOX_OPTIONAL in lines[node.lineno - 1]} if sandbox else set()
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in optional:
            continue
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


def test_every_room_is_listed_in_order_and_exists():
    on_disk = sorted(p.name for p in DLCV.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    assert sorted(ROOMS) == on_disk


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_rooms(path):
    room = room_of(path)
    for name in imports(path):
        parts = name.split(".")
        if parts[0] != "dlcv" or len(parts) < 2 or parts[1] not in ROOMS:
            continue
        target = parts[1]
        assert room is not None, f"the kernel module {path.name} imports the room {name}"
        assert ROOMS.index(target) <= ROOMS.index(room), (
            f"{path.relative_to(REPO)} (lecture room {room}) imports {name}, a later lecture's room")
        is_view = len(parts) > 2 and parts[2] == "widgets"
        assert not is_view, f"{path.relative_to(REPO)} imports a widgets module ({name}): views sit on top"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_only_views_import_ipywidgets(path):
    if path.name in ("widgets.py", "widget.py"):
        return
    assert not any(n.split(".")[0] == "ipywidgets" for n in imports(path)), (
        f"{path.relative_to(REPO)} imports ipywidgets: computation stays pure, views go in widgets.py"
    )


@pytest.mark.parametrize("room", ROOMS)
def test_room_docstring_lists_its_modules_and_imports_nothing(room):
    init = DLCV / room / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert len(tree.body) == 1 and doc, (
        f"{init} should be a docstring only (importing one module of a room must not import the rest)")
    for p in sorted((DLCV / room).glob("*.py")):
        if p.stem != "__init__":
            assert re.search(rf"^\s*{p.stem}\b", doc, re.M), f"{init}'s docstring does not list {p.stem}"


def test_package_docstring_names_every_room_and_kernel_module():
    import dlcv

    for name in ROOMS + KERNEL:
        assert f"dlcv.{name} " in dlcv.__doc__, f"dlcv/__init__.py's map does not name dlcv.{name}"


LONG = 600  # lines: above this a module says at its top why it is one module (ARCHITECTURE.md)
SOURCES = sorted([*DLCV.rglob("*.py"), *(REPO / "autograder").rglob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_a_long_module_says_why_it_is_one(path):
    lines = path.read_text().count("\n")
    if lines <= LONG:
        return
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert "One module because" in doc, (
        f"{path.relative_to(REPO)} has {lines} lines: split it by theme (one idea per module), or "
        f"say at the top of its docstring 'One module because ...'")


ASSIGNMENT_RULES = sorted((REPO / "assignments").glob("*/hidden_tests.py"))


@pytest.mark.parametrize("path", ASSIGNMENT_RULES, ids=lambda p: p.parent.name)
def test_the_dlcv_modules_a_sandbox_mounts_have_all_they_import(path):
    """Each HiddenTests(dlcv=[...]) list is closed under dlcv imports: a mounted module that
    imports an unmounted one would fail with an ImportError while a student's work is graded."""
    for listed in re.findall(r"dlcv=\[([^\]]*)\]", path.read_text()):
        mounted = set(re.findall(r'"([\w.]+)"', listed))
        for name in mounted:
            for imported in imports(DLCV.joinpath(*name.split(".")).with_suffix(".py"), sandbox=True):
                parts = imported.split(".")
                if parts[0] != "dlcv" or len(parts) < 2:
                    continue
                candidates = {".".join(parts[1:i]) for i in range(2, len(parts) + 1)}
                modules = {c for c in candidates if DLCV.joinpath(*c.split(".")).with_suffix(".py").is_file()}
                assert not modules or modules & mounted, (
                    f"{path.parent.name}: dlcv.{name} imports {imported}, which its sandbox does not "
                    f"mount; add {sorted(modules)} to HiddenTests(dlcv=[...])")
