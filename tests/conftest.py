"""Shared fixtures: paths of the course and the notebooks in it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LECTURES = sorted((REPO / "lectures").glob("*.ipynb"))
ASSIGNMENTS = sorted((REPO / "assignments").glob("*/*.ipynb"))
NOTEBOOKS = LECTURES + ASSIGNMENTS

# Kernels, nbgrader and alembic are found by name: the venv's bin/ comes first.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def notebook_id(path: Path) -> str:
    return str(path.relative_to(REPO))
