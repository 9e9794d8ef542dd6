"""dlcv.checks: what a student reads when a test fails."""

import numpy as np
import pytest

from dlcv.checks import (
    CheckFailed,
    checking,
    expect_at_least,
    expect_close,
    expect_equal,
    expect_grad_close,
    expect_shape,
)


def test_not_implemented_becomes_a_clear_message():
    def svm_loss_naive():
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="svm_loss_naive is not implemented yet: replace"):
        with checking("svm_loss_naive"):
            svm_loss_naive()


def test_not_implemented_names_the_missing_dependency():
    def batchnorm_forward():
        raise NotImplementedError()

    class Net:
        def __init__(self, ready=True):
            if not ready:
                raise NotImplementedError()

        def loss(self):
            return batchnorm_forward()

    with pytest.raises(CheckFailed, match=r"^batchnorm_forward is not implemented yet "
                                          r"\(it is needed by best_model\)"):
        with checking("best_model", case="test accuracy"):
            Net().loss()
    with pytest.raises(CheckFailed, match=r"^Net is not implemented yet \(it is needed by Net.loss"):
        with checking("Net.loss"):
            Net(ready=False)
    class Stand(Net):  # a test's subclass: the message names the class where the code is written
        pass

    with pytest.raises(CheckFailed, match=r"^Net is not implemented yet \(it is needed by Stand"):
        with checking("Stand"):
            Stand(ready=False)
    with pytest.raises(CheckFailed, match=r"^setup is not implemented yet: replace"):
        with checking("setup"):  # raised at the top level of a notebook cell: the given name
            exec(compile("raise NotImplementedError()", "<cell>", "exec"))  # noqa: S102


def test_other_errors_name_the_function_and_case():
    with pytest.raises(CheckFailed, match=r"predict_labels \(k=3\) raised IndexError: boom"):
        with checking("predict_labels", case="k=3"):
            raise IndexError("boom")
    with pytest.raises(CheckFailed, match="Run the cells above"):
        with checking("f"):
            undefined_name  # noqa: B018, F821


def test_expect_close_reports_expected_and_got():
    with pytest.raises(CheckFailed) as e:
        with checking("svm_loss_vectorized", case="random 5x4"):
            expect_close(np.array([1.0, 2.0, 3.5]), np.array([1.0, 2.0, 3.0]), "loss")
    msg = str(e.value)
    assert "svm_loss_vectorized (random 5x4): loss is wrong" in msg
    assert "index (2,)" in msg and "expected 3" in msg and "got 3.5" in msg
    expect_close(np.float64(1.0), 1.0 + 1e-9, "x")  # scalars pass


def test_expect_close_shape_and_nan():
    with pytest.raises(CheckFailed, match=r"shape \(2, 3\), got \(3, 2\)"):
        expect_close(np.zeros((3, 2)), np.zeros((2, 3)), "dists")
    with pytest.raises(CheckFailed, match="NaN"):
        expect_close(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(CheckFailed, match="number or numpy array"):
        expect_close("1.0", 1.0)


def test_expect_shape_equal_at_least_grad():
    with pytest.raises(CheckFailed, match="numpy array of shape"):
        expect_shape([1, 2], (2,), "dists")
    expect_shape(np.zeros((2, 3)), (2, 3))
    with pytest.raises(CheckFailed, match="wrong at 1 of 3 positions"):
        expect_equal(np.array([0, 1, 1]), np.array([0, 1, 2]), "y_pred")
    with pytest.raises(CheckFailed, match="should reach at least 0.9700"):
        expect_at_least(0.95, 0.97, "test accuracy")
    with pytest.raises(CheckFailed, match="relative error"):
        expect_grad_close(np.array([1.0, 2.0]), np.array([1.0, 3.0]), "dW")
    expect_grad_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), "dW")


def test_expect_numeric_grads_accepts_right_and_names_wrong_gradients():
    from dlcv.checks import expect_numeric_grads

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    dout = rng.normal(size=(3, 2))
    expect_numeric_grads(lambda a, b: a @ b, [x, w], dout, [dout @ w.T, x.T @ dout], ("dx", "dw"))
    with pytest.raises(CheckFailed, match="dw does not match the numeric gradient"):
        expect_numeric_grads(lambda a, b: a @ b, [x, w], dout, [dout @ w.T, 2 * x.T @ dout],
                             ("dx", "dw"))
    with pytest.raises(ValueError, match="one of each"):
        expect_numeric_grads(lambda a: a, [x], dout, [], ("dx",))
