"""What a part of an assignment may import while it is graded, and how each side applies it.

A rule set (assignments/A/hidden_tests.py: `HiddenTests(blocked=..., dlcv=..., isolated=...)`)
names the packages the student's code cannot import (numpy-only parts: torch, scipy,
scikit-learn...) and the dlcv modules that exist at all (the lectures' teaching versions of
graded functions are left out). The rules are public: `release` writes them into the student
edition's metadata (`dlcv.grading`), so that the self-check applies them before grading does.

- In the grading sandbox (autograder/sandbox.py) a blocked package's folder is covered by a
  stub package whose import fails with a message, and the dlcv folder by a copy holding only
  the allowed modules: nothing else of them is there to load.
- In the self-check (autograder/selfcheck.py) the same stubs and copy come first on the
  kernel's PYTHONPATH: a convenience that tells the student early, not a wall.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

NUMPY_ONLY = ("torch", "functorch", "torchgen", "scipy", "sklearn", "skimage", "sympy")


def why_blocked(name: str) -> str:
    return (f"{name} is not available while this part is graded: the functions you write here "
            f"use numpy (and what the notebook gives you), not {name}")


def stub_package(folder: Path, name: str) -> Path:
    """folder/name/__init__.py, whose import raises ImportError(why_blocked(name))."""
    d = Path(folder) / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "__init__.py").write_text(f"raise ImportError({why_blocked(name)!r})\n")
    return d


def dlcv_folder() -> Path:
    """The installed dlcv package's folder."""
    spec = importlib.util.find_spec("dlcv")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def filtered_dlcv(dest: Path, modules: list[str]) -> Path:
    """dest/dlcv: a copy of the dlcv package with only `modules` (dotted names below dlcv)."""
    src, out = dlcv_folder(), Path(dest) / "dlcv"
    out.mkdir(parents=True, exist_ok=True)
    for name in ["__init__", *modules]:
        parts = name.split(".")
        for i in range(1, len(parts)):  # a room's __init__ (a docstring) comes with its module
            init = Path(*parts[:i], "__init__.py")
            (out / init).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / init, out / init)
        rel = Path(*parts).with_suffix(".py")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, out / rel)
    return out


def public(tests) -> dict:
    """The rules of a HiddenTests as plain data (what the student edition's metadata holds)."""
    out = {"blocked": list(tests.blocked), "dlcv": tests.dlcv}
    if tests.isolated is not None:
        iso = tests.isolated
        out["isolated"] = {"cells": list(iso.cells), "blocked": list(iso.blocked), "dlcv": iso.dlcv,
                           "preamble": iso.preamble}
    return out


def digits_csv() -> Path | None:
    """scikit-learn's file of the digits (dlcv.data reads it directly where sklearn is blocked)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    return p if p.is_file() else None


def kernel_env(rules: dict, dest: Path) -> dict[str, str]:
    """What a kernel's environment needs to apply `rules` (blocked, dlcv) outside the sandbox: a
    folder of stubs and of the filtered dlcv, first on PYTHONPATH; the digits' file."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in rules.get("blocked") or []:
        stub_package(dest, name)
    if rules.get("dlcv") is not None:
        filtered_dlcv(dest, rules["dlcv"])
    env = {"PYTHONPATH": str(dest)}
    if "sklearn" in (rules.get("blocked") or []) and digits_csv() is not None:
        env["DLCV_DIGITS_CSV"] = str(digits_csv())
    return env
