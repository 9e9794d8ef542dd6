"""The limits of a graded kernel are written once (autograder.sandbox_run.Limits) and grow when
CIFAR-10 is in the course's data folder."""

from autograder.sandbox import SandboxedExecute
from autograder.sandbox_run import CIFAR10_LIMITS, Limits, course_limits
from dlcv import data


def test_options_default_to_the_limits():
    assert SandboxedExecute().limits() == Limits()
    assert SandboxedExecute(timeout=7).limits() == Limits(cell_timeout=7)  # the config overrides one


def test_limits_grow_with_cifar10(tmp_path, monkeypatch):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for name in ("data_batch_1", "test_batch"):
        (root / name).write_bytes(b"")
    monkeypatch.setattr(data, "CIFAR10_DIR", root)
    grown = course_limits()
    assert grown == Limits(**CIFAR10_LIMITS)
    assert grown.cell_timeout > Limits().cell_timeout and grown.memory > Limits().memory
    assert SandboxedExecute().limits() == grown
