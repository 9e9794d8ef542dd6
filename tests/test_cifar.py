"""The CIFAR-10 path, on real CIFAR-10 where it is on disk (skipped, with the reason, where not).

`benchmarks/cifar.py` (make bench-cifar) runs lectures 01 and 02 and grades a1-a3 through the
real path (release, collect, autograde in the sandbox with the hidden tests); this test runs it
once, in a process of its own with DLCV_DATA pointing at the data, and checks what must hold:
every source edition earns full marks on CIFAR-10, every untouched student edition 0, the
lectures run, and the reference solutions reach this course's goals (CS231n's figures). It checks
no time: the bench's table reports the seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, USER_DATA

from dlcv.data import cifar10_available

CIFAR = USER_DATA / "cifar-10-batches-py"
HAVE_CIFAR = cifar10_available(CIFAR)

pytestmark = [
    pytest.mark.cifar,
    pytest.mark.nbgrader,
    pytest.mark.skipif(not HAVE_CIFAR, reason=f"CIFAR-10 is not in {CIFAR} (bash data/get_cifar10.sh, "
                                              "or DLCV_DATA=<folder holding cifar-10-batches-py>)"),
]

sys.path.insert(0, str(REPO / "benchmarks"))
import cifar as bench  # noqa: E402 - after sys.path holds benchmarks/


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("cifar") / "rows.json"
    env = {**os.environ, "DLCV_DATA": str(USER_DATA)}
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "cifar.py"), "--json", str(out)],
                   env=env, check=True, timeout=3 * 3600)  # a guard against a hang, not a speed test
    return {r["name"]: r for r in json.loads(out.read_text())}


def test_every_notebook_of_the_cifar_path_is_run(rows):
    assert sorted(rows) == sorted({f.notebook for f in bench.FIGURES})


@pytest.mark.parametrize("a", ["a1_knn_linear", "a2_neural_networks", "a3_cnn"])
def test_source_earns_full_marks_and_blank_zero_on_cifar(rows, a):
    r = rows[a]
    assert r["reference"] == r["max_score"] > 0, r["status"]
    assert r["blank"] == 0


@pytest.mark.parametrize("lecture", ["lectures/01_image_classification.ipynb",
                                     "lectures/02_linear_classifiers.ipynb"])
def test_lectures_run_on_cifar(rows, lecture):
    assert rows[lecture]["status"] == "ran"


@pytest.mark.parametrize("figure", [f for f in bench.FIGURES], ids=lambda f: f"{f.notebook}: {f.label}")
def test_reference_figures_on_cifar(rows, figure):
    value = rows[figure.notebook]["figures"][figure.label]
    assert value is not None, f"the notebook printed no line matching {figure.pattern!r}"
    if figure.goal is not None:
        assert value >= figure.goal
