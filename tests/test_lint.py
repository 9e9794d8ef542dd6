"""ruff passes over the code and the notebooks' .py twins (`make lint`), with the rules and the
reasoned exceptions of pyproject.toml: a new warning fails the suite, not only a manual lint."""

import subprocess
import sys

from conftest import REPO


def test_ruff_passes_over_code_and_notebook_twins():
    paths = ["dlcv", "autograder", "tests", "benchmarks", "lectures", "assignments"]
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *paths], cwd=REPO,
                       capture_output=True, text=True, timeout=300)  # a guard against a hang
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
