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

# The suite runs on the course's default data (the digits) even on a machine with CIFAR-10 on
# disk, so that what it checks does not depend on the machine; tests/test_cifar.py runs the
# CIFAR-10 path where the data is (USER_DATA: $DLCV_DATA or data/, as dlcv.data looks).
# (pytest-xdist's workers inherit the pinned DLCV_DATA: they read the user's from DLCV_USER_DATA.)
USER_DATA = Path(os.environ.get("DLCV_USER_DATA") or os.environ.get("DLCV_DATA") or REPO / "data")
os.environ["DLCV_USER_DATA"] = str(USER_DATA)
os.environ["DLCV_DATA"] = str(REPO / "tests" / "no-optional-data")  # a folder that never exists

# Kernels, nbgrader and alembic are found by name: the venv's bin/ comes first.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def notebook_id(path: Path) -> str:
    return str(path.relative_to(REPO))
