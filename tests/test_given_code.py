"""Given code that several assignments hand to students is written once (assignments/given_code.py)
and every notebook's copy is that code, character for character (`make sync` writes the copies)."""

import importlib.util

import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("given_code", REPO / "assignments" / "given_code.py")
given_code = importlib.util.module_from_spec(spec)
spec.loader.exec_module(given_code)

CASES = [(twin, name) for twin, names in given_code.HOLDERS.items() for name in names]


@pytest.mark.parametrize("twin, name", CASES, ids=[f"{t.split('/')[0]}: {n}" for t, n in CASES])
def test_each_copy_is_the_given_code(twin, name):
    found = given_code.copies(REPO / "assignments" / twin)
    assert name in found, f"{twin} no longer defines the given {name}: update HOLDERS"
    assert found[name][2] == given_code.canonical()[name], (
        f"{twin}'s {name} drifted from assignments/given_code.py: run `make sync`")


def test_the_given_adam_is_adam():
    """One step from zero moments moves every weight by the learning rate, against the gradient."""
    import numpy as np

    w, dw = np.array([1.0, -2.0, 0.5]), np.array([0.3, -4.0, 0.0])
    w2, config = given_code.adam(w, dw, {"learning_rate": 0.1})
    np.testing.assert_allclose(w2, w - 0.1 * np.sign(dw), atol=1e-6)
    assert config["t"] == 1 and given_code.adam(w, dw)[1]["learning_rate"] == 1e-3
