"""Checks that speak to students.

Assignment test cells use these instead of bare asserts, so that a failing test says which
function failed, on which case, and what was expected against what came back:

    with checking("compute_distances_two_loops", case="3 test x 5 train points"):
        dists = compute_distances_two_loops(X_test, X_train)
        expect_shape(dists, (3, 5), "dists")
        expect_close(dists, reference, "dists")

An unimplemented function (the student edition raises NotImplementedError) becomes
"compute_distances_two_loops is not implemented yet"; any other exception is reported with the
function's name and the error, and the test fails with an AssertionError that nbgrader records.
A MemoryError is not turned into a message: it is a resource limit, for the grader to see.

In Jupyter a failed check shows its message, not the frames of this module and of contextlib
(`CheckFailed._render_traceback_`); when the student's own code raised the error behind it, the
traceback of that error (the test's line and the student's functions) comes first.
"""

from __future__ import annotations

import contextlib
import numbers
import os

import numpy as np

_HIDDEN_FILES = {os.path.normcase(os.path.abspath(__file__)).removesuffix("c"),
                 os.path.normcase(os.path.abspath(contextlib.__file__)).removesuffix("c")}


class CheckFailed(AssertionError):
    """A test found a wrong answer; the message is written for the student.

    `student_error`: the exception the student's code raised, when that is what the check
    reports (its traceback is shown above the message in Jupyter)."""

    student_error: BaseException | None = None

    def _render_traceback_(self) -> list[str]:
        """IPython's hook for the traceback it shows: the message (after the student's error)."""
        return _render(self)


def _student_frames(tb) -> list:
    """The frames of a traceback (traceback.FrameSummary) without those of this module and of
    contextlib: the test's own line, then the student's functions."""
    import traceback

    return [fs for fs in traceback.extract_tb(tb)
            if os.path.normcase(os.path.abspath(fs.filename)) not in _HIDDEN_FILES]


_RED, _GREEN, _RESET = "\x1b[0;31m", "\x1b[0;32m", "\x1b[0m"


def _render(failed: CheckFailed) -> list[str]:
    lines: list[str] = []
    err = failed.student_error
    if err is not None:
        lines += [*_format_error(err), ""]
    lines.append(f"{_RED}CheckFailed{_RESET}: {failed}")
    return lines


def _format_error(err: BaseException) -> list[str]:
    """A short traceback: for each frame where it is ("Cell In[4], line 2, in g") and its line.

    (IPython's own formatter shows a notebook cell at the line its frame last ran, which after a
    `with` block is the `with` line, not the one that raised.)"""
    import traceback

    cells: dict = {}
    try:
        from IPython import get_ipython

        ip = get_ipython()
        cells = dict(getattr(getattr(ip, "compile", None), "_filename_map", None) or {})
    except Exception:  # noqa: BLE001 - plain file names then
        pass
    name = type(err).__name__
    lines = [f"{_RED}{name}{_RESET}{' ' * max(1, 42 - len(name))}Traceback (most recent call last)"]
    for fs in _student_frames(err.__traceback__):
        n = cells.get(fs.filename)
        where = f"Cell In[{n}], line {fs.lineno}" if n is not None else f"File {fs.filename}:{fs.lineno}"
        if fs.name != "<module>":
            where += f", in {fs.name}"
        lines.append(f"{_GREEN}{where}{_RESET}")
        if fs.line:
            lines.append(f"{_GREEN}---->{_RESET} {fs.line}")
    last = "".join(traceback.format_exception_only(type(err), err)).rstrip("\n")
    lines.append(f"{_RED}{name}{_RESET}{last[len(name):]}" if last.startswith(name) else last)
    return lines


def _failed(message: str, student_error: BaseException | None = None) -> CheckFailed:
    e = CheckFailed(message)
    e.student_error = student_error
    return e


def _fmt(a, max_items: int = 6) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{a.item():.6g}" if np.issubdtype(a.dtype, np.number) else repr(a.item())
    flat = a.ravel()
    items = ", ".join(
        f"{v:.6g}" if np.issubdtype(a.dtype, np.number) else repr(v) for v in flat[:max_items]
    )
    more = ", ..." if flat.size > max_items else ""
    return f"array of shape {a.shape} [{items}{more}]"


def _raised_in(error: BaseException) -> str | None:
    """The function (or Class.method, or Class for __init__) whose body raised `error`: the class
    that defines the method, not the object's (a test's subclass of a student's class says
    `LinearClassifier.train`, where the student writes it)."""
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    parts = [p for p in getattr(code, "co_qualname", code.co_name).split(".") if p != "<locals>"]
    if code.co_name == "<module>":
        return None
    if len(parts) >= 2 and parts[-1] == "__init__":
        return parts[-2]
    return ".".join(parts[-2:]) if len(parts) >= 2 and "self" in tb.tb_frame.f_locals else parts[-1]


@contextlib.contextmanager
def checking(function: str, case: str | None = None):
    """Run a block that calls a student's function; turn failures into clear messages."""
    where = f"{function}" + (f" ({case})" if case else "")
    try:
        yield
    except CheckFailed as e:
        raise CheckFailed(f"{where}: {e}") from None
    except NotImplementedError as e:
        culprit = _raised_in(e)
        needed = f" (it is needed by {function})" if culprit and culprit != function else ""
        raise CheckFailed(
            f"{culprit or function} is not implemented yet{needed}: replace "
            "`raise NotImplementedError()` with your code, run the cell that defines it, then "
            "run this test again."
        ) from None
    except NameError as e:
        if len(_student_frames(e.__traceback__)) > 1:  # raised in the student's code
            raise _failed(f"{where}: {e}, in your code: a misspelt name, or a cell above that was "
                          "not run (Run > Run All Above).", e) from None
        raise CheckFailed(  # raised by the test itself: what it calls is not defined yet
            f"{where}: {e}. Run the cells above this one first (Run > Run All Above)."
        ) from None
    except AssertionError as e:
        inside = len(_student_frames(e.__traceback__)) > 1  # an assert in the student's code
        raise _failed(f"{where}: {e}", e if inside else None) from None
    except MemoryError:
        raise  # a resource limit, not a wrong answer: the grader must see it as such
    except Exception as e:  # noqa: BLE001 - every student error becomes a message
        raise _failed(f"{where} raised {type(e).__name__}: {e}", e) from None


def expect_shape(got, shape: tuple, name: str = "result") -> None:
    got_shape = getattr(got, "shape", None)
    if got_shape is None:
        raise CheckFailed(f"{name} should be a numpy array of shape {shape}, got {type(got).__name__}")
    if tuple(got_shape) != tuple(shape):
        raise CheckFailed(f"{name} should have shape {tuple(shape)}, got {tuple(got_shape)}")


def expect_close(got, expected, name: str = "result", rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Values must match to rtol/atol; shapes must match exactly."""
    expected = np.asarray(expected)
    if isinstance(got, numbers.Number) and expected.ndim == 0:
        got = np.asarray(got)
    if not hasattr(got, "shape"):
        raise CheckFailed(f"{name} should be a number or numpy array, got {type(got).__name__}")
    got = np.asarray(got)
    if got.shape != expected.shape:
        raise CheckFailed(f"{name} should have shape {expected.shape}, got {got.shape}")
    if not np.all(np.isfinite(got)):
        raise CheckFailed(f"{name} contains NaN or inf: {_fmt(got)}")
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        bad = np.argmax(np.abs(got - expected) - atol - rtol * np.abs(expected)) if got.ndim else ()
        idx = np.unravel_index(bad, got.shape) if got.ndim else ()
        at = f" (first large difference at index {tuple(int(i) for i in idx)}: expected " \
             f"{expected[idx]:.6g}, got {got[idx]:.6g})" if got.ndim else ""
        raise CheckFailed(
            f"{name} is wrong{at}.\n  expected {_fmt(expected)}\n  got      {_fmt(got)}"
        )


def expect_equal(got, expected, name: str = "result") -> None:
    """Exact equality (labels, counts, indices)."""
    expected = np.asarray(expected)
    got_arr = np.asarray(got)
    if got_arr.shape != expected.shape:
        raise CheckFailed(f"{name} should have shape {expected.shape}, got {got_arr.shape}")
    if not np.array_equal(got_arr, expected):
        wrong = np.flatnonzero(got_arr.ravel() != expected.ravel())
        raise CheckFailed(
            f"{name} is wrong at {len(wrong)} of {expected.size} positions "
            f"(first at flat index {wrong[0]}).\n  expected {_fmt(expected, 10)}\n"
            f"  got      {_fmt(got_arr, 10)}"
        )


def expect_at_least(value: float, threshold: float, name: str) -> None:
    if not (isinstance(value, numbers.Real) and np.isfinite(value)):
        raise CheckFailed(f"{name} should be a finite number, got {value!r}")
    if value < threshold:
        raise CheckFailed(f"{name} is {value:.4f}; it should reach at least {threshold:.4f}")


def expect_grad_close(analytic, numeric, name: str, tol: float = 1e-6) -> None:
    """Analytic gradient against a numeric one, by the largest relative error."""
    from dlcv.gradcheck import rel_error

    analytic = np.asarray(analytic)
    numeric = np.asarray(numeric)
    if analytic.shape != numeric.shape:
        raise CheckFailed(f"{name} should have shape {numeric.shape}, got {analytic.shape}")
    err = rel_error(analytic, numeric)
    if not err <= tol:
        raise CheckFailed(
            f"{name} does not match the numeric gradient: largest relative error {err:.2e} "
            f"(should be below {tol:.0e}).\n  numeric  {_fmt(numeric)}\n  yours    {_fmt(analytic)}"
        )


def expect_numeric_grads(f, args, dout, grads, names, tol: float = 1e-6) -> None:
    """Every analytic gradient of a layer against the numeric one.

    f(*args) -> the layer's output (an array); dout: the upstream gradient of that output;
    grads[k]: the analytic gradient of sum(f(*args) * dout) with respect to args[k], named
    names[k] in the message. The args are float64 arrays; each is perturbed in a copy.
    """
    from dlcv.gradcheck import eval_numerical_gradient_array

    if not len(args) == len(grads) == len(names):
        raise ValueError(f"expect_numeric_grads: {len(args)} args, {len(grads)} gradients and "
                         f"{len(names)} names; expected one of each per input")
    for k, name in enumerate(names):
        def f_k(v, k=k):
            return f(*[v if j == k else a for j, a in enumerate(args)])

        expect_grad_close(grads[k], eval_numerical_gradient_array(f_k, np.array(args[k], copy=True), dout),
                          name, tol=tol)
