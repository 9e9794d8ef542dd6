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

Display cells (plots, timings, training runs that call the student's functions) wrap that code
in `with needs("compute_distances_no_loops", "predict_labels"):`. On a half-done notebook such a
cell stops before it starts with one line (`NotReady`) naming the function still to write, and a
later cell whose input an earlier `needs` block did not compute names that cell and why it stopped,
instead of a NotImplementedError traceback followed by a cascade of NameErrors.

One module because the checks and `needs` share how a failure finds and shows the student's own
frames (the rendering at the top), and every assignment's grading sandbox mounts this one file.
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
    number = np.issubdtype(a.dtype, np.number)
    items = ", ".join(  # numpy scalars as python's: True, not np.True_
        f"{v:.6g}" if number else repr(v.item() if isinstance(v, np.generic) else v) for v in flat[:max_items]
    )
    more = ", ..." if flat.size > max_items else ""
    return f"array of shape {a.shape} [{items}{more}]"


def _raised_in(error: BaseException) -> str | None:
    """The function (or Class.method, or Class for __init__) whose body raised `error`: the class
    that defines the method, not the object's (a test's subclass of a student's class says
    `LinearClassifier.train`, where the student writes it)."""
    tb = error.__traceback__
    return None if tb is None else _frame_name(_last_frame(tb))


def _frame_name(frame) -> str | None:
    """The name _raised_in gives the function a frame runs (None for a cell's top level); a
    lambda or comprehension is named by the function it is written in."""
    code = frame.f_code
    parts = [p for p in getattr(code, "co_qualname", code.co_name).split(".") if not p.startswith("<")]
    if code.co_name == "<module>" or not parts:
        return None
    if len(parts) >= 2 and parts[-1] == "__init__":
        return parts[-2]
    return ".".join(parts[-2:]) if len(parts) >= 2 and "self" in frame.f_locals else parts[-1]


def _not_students() -> tuple[str, ...]:
    """Folders whose code is not the student's: Python's, the installed packages', dlcv's."""
    import sysconfig

    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.add(os.path.dirname(os.path.abspath(__file__)))
    return tuple(os.path.normcase(os.path.abspath(p)) + os.sep for p in paths if p)


def _culprit(error: BaseException) -> str | None:
    """The student's function in which `error` happened (the deepest frame of the student's code,
    below numpy and dlcv), when it is not the test's own code; else None."""
    tb, frames = error.__traceback__, []
    skip = _not_students()
    while tb is not None:
        name = os.path.normcase(os.path.abspath(tb.tb_frame.f_code.co_filename))
        if name not in _HIDDEN_FILES and not name.startswith(skip):
            frames.append(tb.tb_frame)
        tb = tb.tb_next
    return _frame_name(frames[-1]) if len(frames) >= 2 else None


def _then(message: str, more: str) -> str:
    """`message`, then the sentence `more` (which starts with a space): on a line of its own after
    a message of several lines."""
    if not more:
        return message
    return message + ("\n " if "\n" in message else "" if message.endswith((".", ")")) else ".") + more


def join_names(names) -> str:
    """"a", "a and b", "a, b and c": names in a sentence."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def defines(source: str, name: str) -> bool:
    """Whether a cell's code defines `name` at its top level (def, class or an assignment)."""
    import re

    pattern = rf"^(?:def|class)[ \t]+{re.escape(name)}\b|^{re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)"
    return re.search(pattern, source, re.M) is not None


def _why_not_defined(name: str) -> str | None:
    """Why `name` is not defined, read from IPython's history of the cells run (`In`): the last
    one that defines it, and the SyntaxError (with its line) that stopped it. None outside IPython
    or when no cell run defines it."""

    try:
        from IPython import get_ipython

        ip = get_ipython()
        history = list(ip.user_ns.get("In") or []) if ip is not None else []
    except Exception:  # noqa: BLE001 - then the general advice
        return None
    for n in range(len(history) - 1, 0, -1):
        if not defines(history[n] or "", name):
            continue
        try:
            compile(ip.transform_cell(history[n]), f"In[{n}]", "exec")
        except SyntaxError as e:
            line = f" (`{e.text.strip()}`)" if e.text and e.text.strip() else ""
            return (f"the cell that defines it (In [{n}]) stops with a {type(e).__name__} at line "
                    f"{e.lineno}{line}: {e.msg}. Fix that line, run that cell, then this test again.")
        except Exception:  # noqa: BLE001 - a cell IPython cannot transform: the general advice
            return None
        return (f"the cell that defines it (In [{n}]) stopped with an error before it got there. "
                "Run that cell again, read its error and fix it, then run this test again.")
    return None


@contextlib.contextmanager
def checking(function: str, case: str | None = None, uses: tuple[str, ...] = ()):
    """Run a block that calls a student's function; turn failures into clear messages.

    `uses`: the student's other functions the block also runs (cross_validate_knn uses the
    distances and the vote): an error raised in one of them names it, and a wrong result says
    that they may be the cause."""
    where = f"{function}" + (f" ({case})" if case else "")
    also = (f" This test also runs your {join_names(uses)}: if {'its' if len(uses) == 1 else 'their'} "
            f"own test fails, fix {'it' if len(uses) == 1 else 'them'} first.") if uses else ""
    try:
        yield
    except CheckFailed as e:
        raise CheckFailed(_then(f"{where}: {e}", also)) from None
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
            raise _failed(f"{where}: {e}, in your {_culprit(e) or 'code'}: a misspelt name, or a cell "
                          "above that was not run (Run > Run All Above).", e) from None
        why = _why_not_defined(e.name) if getattr(e, "name", None) else None
        raise CheckFailed(  # raised by the test itself: what it calls is not defined yet
            f"{where}: {e}: " + (why or "the cell that defines it has not run, or stopped with an "
                                 "error (a SyntaxError?). Run the cells above this one (Run > Run "
                                 "All Above) and read their errors.")
        ) from None
    except AssertionError as e:
        inside = len(_student_frames(e.__traceback__)) > 1  # an assert in the student's code
        raise _failed(f"{where}: {e}", e if inside else None) from None
    except MemoryError:
        raise  # a resource limit, not a wrong answer: the grader must see it as such
    except Exception as e:  # noqa: BLE001 - every student error becomes a message
        culprit = _culprit(e)
        if culprit is not None and culprit != function and culprit in uses:
            raise _failed(f"{where}: your {culprit} raised {type(e).__name__}: {e}. Fix {culprit} "
                          "first (its own test should fail too).", e) from None
        raise _failed(_then(f"{where} raised {type(e).__name__}: {e}", also), e) from None


def expect_shape(got, shape: tuple, name: str = "result") -> None:
    got_shape = getattr(got, "shape", None)
    if got_shape is None and isinstance(got, (list, tuple)) and len(shape) == 1 and len(got) != shape[0]:
        raise CheckFailed(f"{name} should hold {shape[0]} items, got a {type(got).__name__} of {len(got)}")
    if got_shape is None:
        of = f" of {len(got)} items" if isinstance(got, (list, tuple)) else ""
        raise CheckFailed(f"{name} should be a numpy array of shape {shape}, got a {type(got).__name__}{of}")
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


def expect_len(got, n: int, name: str, items: str = "items") -> None:
    """A list (or tuple, or 1-d array) of n things: "k_to_accuracies[1] should hold 3 accuracies,
    got 2"; `items` names them."""
    if isinstance(got, np.ndarray) and got.ndim != 1 or not hasattr(got, "__len__") or isinstance(got, str):
        raise CheckFailed(f"{name} should be a list of {n} {items}, got {_what(got)}")
    if len(got) != n:
        raise CheckFailed(f"{name} should hold {n} {items}, got {len(got)}")


def _what(x) -> str:
    if x is None:
        return "None"
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    if isinstance(x, numbers.Number):
        return f"the number {x!r}" if not isinstance(x, bool) else repr(x)
    return f"a {type(x).__name__}"


def expect_loss_before_gradient(loss, expected, case: str) -> None:
    """The first step of a gradient test: the numeric gradient is computed from the student's own
    loss, so with a wrong loss (no /N, no reg) a right dW cannot match it; say so, not "dW is wrong".
    `case`: where the loss is checked ("the hand-checked case of the loss test")."""
    try:
        expect_close(loss, expected, "loss")
    except CheckFailed as e:
        raise CheckFailed(
            f"the loss is wrong (fix the loss test first): the numeric gradient is computed from your "
            f"loss, so dW cannot be checked until the loss is right. On {case}: {e}") from None


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


# ------------------------------------------------------------------------------------------
# Display cells: `with needs(...)`
# ------------------------------------------------------------------------------------------
class NotReady(Exception):
    """A display cell cannot run yet: a function it needs is not written, or the cell above that
    computes what it shows stopped. The message says which, and what to do (one line in Jupyter)."""

    def _render_traceback_(self) -> list[str]:
        return [f"{_RED}NotReady{_RESET}: {self}"]


# name -> (id of its value then, the cell that stopped before computing it, why it stopped):
# the names a `needs` block binds, from the moment it stops until it runs to its end.
_UNFINISHED: dict[str, tuple[int, str, str]] = {}
_NO_VALUE = object()
_STUB = "raise NotImplementedError()"


def needs(*names: str) -> _Needs:
    """Run the code of a display cell (a plot, a timing, a training run) that uses the student's
    functions, or results that earlier display cells computed with them:

        with needs("compute_distances_no_loops", "predict_labels"):
            dists = compute_distances_no_loops(X_val, X_train)
            ...

    `names`: the notebook's functions and classes that the block calls (or a result an answer cell
    sets, such as `best_model`). Before the block runs, each must be defined, hold no
    `raise NotImplementedError()` left from the student edition (a class: in none of its
    methods) and not be None. The block does not run, with one line that says what is missing
    and what to do, when one is not, or when the block uses a name that an earlier `needs` block
    binds and that block stopped (it says which cell, and why it stopped). A NotImplementedError
    of the notebook's code, or a NameError of the block itself, while the block runs, becomes
    such a line too; any other error is the student's to read and passes unchanged.
    """
    import sys

    return _Needs(names, sys._getframe(1))


class _Needs:
    def __init__(self, names: tuple[str, ...], frame):
        self.names, self.globals, self.code = names, frame.f_globals, frame.f_code
        self.label = _cell_label(frame.f_code.co_filename)
        self.binds, self.uses = _block_names(frame)

    def __enter__(self) -> _Needs:
        problem = self._missing() or self._not_ready()
        if problem:
            self._stopped(problem[0])
            raise NotReady(problem[1])
        return self

    def __exit__(self, etype, error, tb) -> bool:
        if etype is None:
            for name in self.binds:
                _UNFINISHED.pop(name, None)
            return False
        problem = None
        if isinstance(error, NotImplementedError) and not error.args:  # the stub, not a message
            problem = self._not_implemented(error)
        elif isinstance(error, NameError) and _last_frame(tb).f_code.co_filename == self.code.co_filename:
            problem = self._undefined(getattr(error, "name", None) or str(error))
        if problem is None:  # the student's error, or an interruption: shown as it is
            first = (str(error).strip().splitlines() or [""])[0][:100]
            self._stopped(f"{etype.__name__}: {first}" if first else etype.__name__)
            return False
        self._stopped(problem[0])
        raise NotReady(problem[1]) from None

    # ---- before the block -----------------------------------------------------------------
    def _missing(self) -> tuple[str, str] | None:
        """(why, message) when a name in `names` is not defined, still a stub, or None."""
        undefined, stubs, unset = [], [], []
        for name in self.names:
            head, _, attr = name.partition(".")
            obj = self.globals.get(head, _NO_VALUE)
            if obj is not _NO_VALUE and attr:
                obj = getattr(obj, attr, _NO_VALUE)
            if obj is _NO_VALUE:
                undefined.append(name)
            elif obj is None:
                unset.append(name)
            else:
                stubs += [s for s in _stubs(obj, name, self.globals.get("__name__")) if s not in stubs]
        if stubs:
            return _not_written(stubs)
        if undefined:
            why = f"{join_names(undefined)} {'is' if len(undefined) == 1 else 'are'} not defined yet"
            return why, (f"{why}: run {'its cell' if len(undefined) == 1 else 'their cells'} above "
                         "(Run > Run All Above), then run this one.")
        if unset:
            why = f"{join_names(unset)} {'is' if len(unset) == 1 else 'are'} still None"
            return why, (f"{why}: write the cell above that sets {'it' if len(unset) == 1 else 'them'}, "
                         "run it, then run this one.")
        return None

    def _not_ready(self, names=None) -> tuple[str, str] | None:
        """(why, message) when the block uses a name (of `names`, default: every name it reads)
        that an earlier block stopped before computing."""
        waiting = [n for n in (self.uses if names is None else names)
                   if n in _UNFINISHED and self._still_unfinished(n)]
        if not waiting:
            return None
        _, cell, why = _UNFINISHED[waiting[0]]
        same = [n for n in waiting if _UNFINISHED[n][1:] == (cell, why)]
        it = "it" if len(same) == 1 else "them"
        which = f"cell {cell} above, which computes {it}," if cell else f"the cell above that computes {it}"
        again = f"cell {cell}" if cell else "that cell"
        return why, (f"{join_names(same)} {'is' if len(same) == 1 else 'are'} not ready: {which} "
                     f"stopped ({why}). Fix that, run {again} again, then run this one.")

    def _still_unfinished(self, name: str) -> bool:
        """Whether `name` still holds what it held when its block stopped (another cell may have
        set it since)."""
        if id(self.globals.get(name, _NO_VALUE)) == _UNFINISHED[name][0]:
            return True
        del _UNFINISHED[name]
        return False

    # ---- while the block runs -------------------------------------------------------------
    def _not_implemented(self, error: NotImplementedError) -> tuple[str, str] | None:
        """(why, message) for a NotImplementedError raised by the notebook's code; else None."""
        frames = []  # the frames of the notebook's other cells
        tb = error.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if tb.tb_frame.f_globals is self.globals and code.co_filename != self.code.co_filename:
                frames.append(tb.tb_frame)
            tb = tb.tb_next
        if not frames or frames[-1] is not _last_frame(error.__traceback__):
            return None  # raised by a library, or by the cell itself: not a stub
        culprit = _frame_name(frames[-1]) or frames[-1].f_code.co_name
        callers = [c for c in map(_frame_name, frames[:-1]) if c and c != culprit]
        listed = [c for c in callers if c in self.names or c.partition(".")[0] in self.names]
        # the deepest of the block's named functions that called it, or else what the cell called
        caller = listed[-1] if listed else callers[0] if callers else None
        return _not_written([culprit], needed_by=caller)

    def _undefined(self, name: str) -> tuple[str, str]:
        found = self._not_ready([name])
        if found:
            return found
        if name in self.names:
            return self._missing() or (f"{name} is not defined yet",
                                       f"{name} is not defined yet: run its cell above, then run this one.")
        why = f"{name} is not defined yet"
        return why, (f"{why}: a cell above computes it and has not run; run the cells above in order "
                     "(Run > Run All Above), then run this one.")

    def _stopped(self, why: str) -> None:
        for name in self.binds:
            _UNFINISHED[name] = (id(self.globals.get(name, _NO_VALUE)), self.label, why)


def _not_written(stubs: list[str], needed_by: str | None = None) -> tuple[str, str]:
    """(why, message) for functions that still raise NotImplementedError."""
    one = len(stubs) == 1
    why = f"{join_names(stubs)} {'is' if one else 'are'} not implemented yet"
    by = f" (it is needed by {needed_by})" if needed_by else ""
    return why, (f"{why}{by}: replace `{_STUB}` with your code{'' if one else ' in each'}, run "
                 f"{'its cell' if one else 'their cells'}, then run this one.")


def _stubs(obj, name: str, module: str | None) -> list[str]:
    """The functions of `obj` (a function, or a class of the notebook and its notebook bases) that
    still hold the student edition's `raise NotImplementedError()`."""
    import inspect

    def is_stub(f) -> bool:
        code = getattr(f, "__code__", None)
        if code is None or "NotImplementedError" not in code.co_names:
            return False
        try:
            return any(line.strip() == _STUB for line in inspect.getsourcelines(f)[0])
        except (OSError, TypeError):  # no source to read: let the block run and tell
            return False

    if not isinstance(obj, type):
        return [name] if is_stub(inspect.unwrap(obj) if callable(obj) else None) else []
    out = []
    for klass in obj.__mro__:
        if klass.__module__ != module:
            continue
        methods = []
        for attr, member in vars(klass).items():
            f = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if callable(f) and is_stub(f):
                methods.append(attr)
        if methods:  # LinearClassifier.train, or CaptioningRNN (__init__, loss and sample)
            out.append(f"{klass.__name__}.{methods[0]}" if len(methods) == 1
                       else f"{klass.__name__} ({join_names(methods)})")
    return out


def _last_frame(tb):
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


def _cell_label(filename: str) -> str:
    """"[12]" for the cell IPython ran as In [12]; "" outside IPython."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        n = (getattr(getattr(ip, "compile", None), "_filename_map", None) or {}).get(filename)
    except Exception:  # noqa: BLE001 - no label then
        return ""
    return f"[{n}]" if isinstance(n, int) else ""


def _block_names(frame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the body of the `with needs(...)` statement running in `frame` binds in the cell's
    namespace, and the names it reads without binding them anywhere; ((), ()) without its source."""
    import ast
    import linecache

    lines = linecache.getlines(frame.f_code.co_filename, frame.f_globals)
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return (), ()
    here = [n for n in ast.walk(tree) if isinstance(n, ast.With)
            and n.lineno <= frame.f_lineno <= n.items[-1].context_expr.end_lineno]
    if not here:
        return (), ()
    body = max(here, key=lambda n: n.lineno).body
    binds: list[str] = []

    def visit(node) -> None:  # bindings of the cell's namespace: not inside functions, lambdas...
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            binds.extend((a.asname or a.name).split(".")[0] for a in node.names)
        elif not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                binds.append(node.id)
            for child in ast.iter_child_nodes(node):
                visit(child)

    for stmt in body:
        visit(stmt)
    nodes = [n for stmt in body for n in ast.walk(stmt)]
    bound_anywhere = ({n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
                      | {n.arg for n in nodes if isinstance(n, ast.arg)} | set(binds))
    uses = [n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and n.id not in bound_anywhere]
    return tuple(dict.fromkeys(binds)), tuple(dict.fromkeys(uses))
