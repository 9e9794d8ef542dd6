"""Hidden tests that decide grades in the grader's own process, never in the student's.

An assignment's hidden tests live beside its source notebook, in `assignments/A/hidden_tests.py`
(never released, never mounted in the sandbox). Each test is a function of the grade id of one
test cell; it builds inputs here, calls the student's code through `st` and the instructor's
solutions through `ref`, and compares here:

    tests = HiddenTests()

    @tests.test("test_knn_two_loops")
    def _(st, ref):
        a, b = rng.normal(size=(7, 5)), rng.normal(size=(11, 5))
        with case("compute_distances_two_loops", "random 7 x 11 points, D=5"):
            expect_close(st.compute_distances_two_loops(a, b), ref.compute_distances_two_loops(a, b),
                         "dists")

- `st.NAME(...)` sends the arguments (plain data: numbers, strings, arrays, lists, tuples, dicts)
  to the sandboxed kernel, which calls the student's NAME on fresh copies and hands back plain
  data (autograder/inside). Objects stay in the sandbox as handles: `m = st.LinearSVM()`, then
  `m.train(X, y)`, `m.W.get()`, `m.W.set(W)`. `st.probe("f", ...)` runs the public probe
  `f` of autograder/inside/probes/<assignment>.py on the student's namespace.
- `ref` is the same interface over the source notebook's own answer cells, run here (trusted)
  with the hidden tests' PREAMBLE; its replies are remembered per assignment, so a batch of
  submissions computes each reference once.
- An error in the student's code arrives as `StudentError` (class names, message, where);
  `case(...)` turns it, and any `CheckFailed` of the dlcv.checks helpers, into the case's verdict.
  `case(..., uses=("affine_forward", ...))` names the student's other functions the case also runs
  (as dlcv.checks.checking's `uses`): a failed case then ends with a reminder of them.

- `SOURCE` (a global the grader gives every hidden_tests.py) is the source notebook:
  `SOURCE.value("SETTINGS")` reads a setting the tests share with it, from one place.

A test cell earns its points when every case of its hidden test passes (its visible cases are
among them: what ran in the student's kernel is shown to the student, never trusted).

One module because it is the whole interface of a hidden_tests.py file (HiddenTests, case,
the st and ref sessions, Spec), which every assignment imports from this one place.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.inside import serve, wire
from autograder.notebooks import nbgrader_meta
from autograder.rules import NUMPY_ONLY  # noqa: F401 - hidden_tests.py import it from here
from dlcv.checks import CheckFailed, join_names

HIDDEN_TESTS_FILE = "hidden_tests.py"


# ------------------------------------------------------------------------------------------
# talking to the student's code
# ------------------------------------------------------------------------------------------
class StudentError(Exception):
    """The student's code raised, or could not answer (a limit, a kernel that died)."""

    def __init__(self, types: list[str], message: str, where: str | None = None,
                 trace: list[str] | None = None):
        self.types, self.message, self.where, self.trace = list(types), message, where, trace or []
        super().__init__(f"{self.name}: {message}")

    @property
    def name(self) -> str:
        return self.types[0] if self.types else "Error"

    def is_a(self, name: str) -> bool:
        return name in self.types


class ReferenceFailed(Exception):
    """The instructor's reference raised on a case (often: what it was given came from the
    student). Reported as the course's problem, never as the student's error."""


class Session:
    """Where requests are answered: the sandboxed kernel, or (for `ref`) this process.

    `failed_cells`: grade_id -> (source, what stopped it) of the cells that stopped with an error
    when the notebook ran (notebooks.failed_cells): a name that is not defined because the cell
    that defines it failed (a SyntaxError) is reported as that cell's error, with its line."""

    failed_cells: dict[str, tuple[str, str]] = {}  # set per session, never changed in place
    failed_where: str = ""  # how those cells ran: "" (the notebook) or " when run on its own ..."

    def request(self, req: dict, timeout: float | None = None):
        raise NotImplementedError

    def _reply(self, text: str):
        try:
            reply = wire.decode(text)
        except wire.WireError as e:
            raise StudentError(["WireError"], f"the answer could not be read: {e}") from None
        if not isinstance(reply, dict) or len(reply) != 1 or not ({"ok", "error"} & set(reply)):
            raise StudentError(["WireError"], "the answer is not a reply")
        if "error" in reply:
            e = reply["error"]
            if not isinstance(e, dict):
                raise StudentError(["WireError"], "the answer is not a reply")
            types_ = [str(t)[:100] for t in e["types"]][:20] if isinstance(e.get("types"), list) else []
            trace = e.get("trace") if isinstance(e.get("trace"), list) else []
            where = e.get("where") if isinstance(e.get("where"), str) else None
            err = StudentError(types_ or ["Error"], str(e.get("message", ""))[:2000], where,
                               [str(t)[:300] for t in trace][:10])
            raise self._why_not_defined(err)
        return reply["ok"]

    def _why_not_defined(self, e: StudentError) -> StudentError:
        """A name the grader asked for that is not defined because the cell defining it failed:
        the error says so (types + "CellFailed"); any other error is returned as it is."""
        import re

        from dlcv.checks import defines

        m = re.fullmatch(r"name '(\w+)' is not defined", e.message) if e.is_a("NotDefined") else None
        if m is None or not self.failed_cells:
            return e
        for gid, (source, error) in self.failed_cells.items():
            if defines(source, m.group(1)) and error.startswith("NotImplementedError"):
                return StudentError([*e.types, "CellFailed"],
                                    f"{m.group(1)} is not defined: the cell that defines it ({gid!r}) is "
                                    "not implemented yet: replace `raise NotImplementedError()` with your "
                                    "code and run it", e.where)
            if defines(source, m.group(1)):
                return StudentError([*e.types, "CellFailed"],
                                    f"{m.group(1)} is not defined: the cell that defines it ({gid!r}) "
                                    f"stopped with {error}{self.failed_where}. Fix that cell, run it, "
                                    "and check its test again", e.where)
        return e


class LocalSession(Session):
    """Requests answered in this process, against `namespace` (the reference solutions), through
    the very code the sandbox runs (serve.Server), so replies have the same plain types."""

    def __init__(self, namespace: dict, memo: dict | None = None, key: str = "", reference: bool = False):
        self.server = serve.Server(namespace)
        self.memo, self.key, self.reference = memo, key, reference

    def request(self, req: dict, timeout: float | None = None):
        text = wire.encode(req)
        cacheable = self.memo is not None and not _has_handle(req)
        k = hashlib.sha256((self.key + text).encode()).hexdigest() if cacheable else None
        if k is not None and k in self.memo:
            return self._reply(self.memo[k])
        reply = self.server.respond(text)
        try:
            value = self._reply(reply)
        except StudentError as e:
            if not self.reference:
                raise
            raise ReferenceFailed(f"{e.name}: {e.message}") from None
        if k is not None and '"$h"' not in reply:
            self.memo[k] = reply
        return value


def _has_handle(v) -> bool:
    if isinstance(v, wire.Handle):
        return True
    if isinstance(v, dict):
        return any(_has_handle(k) or _has_handle(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return any(_has_handle(x) for x in v)
    return False


class Remote:
    """A name or an object on the other side: call it, read it, set it, or go to an attribute."""

    def __init__(self, session: Session, target: list, timeout: float | None = None):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_timeout", timeout)

    # Names that numpy and the checks probe on what they are given: a remote object has none of
    # them (so `expect_close(obj, ...)` says it is not an array); reach such an attribute of the
    # object on the other side with obj.attr("shape").
    _NOT_REMOTE = frozenset({"shape", "dtype", "ndim", "size", "T"})

    def __getattr__(self, attr: str) -> Remote:
        if attr.startswith("__") or attr in self._NOT_REMOTE:
            raise AttributeError(attr)
        return self.attr(attr)

    def attr(self, name: str) -> Remote:
        """The attribute `name` of this object, on the other side."""
        return Remote(self._session, [*self._target, name], self._timeout)

    def __setattr__(self, attr, value):
        raise AttributeError("use .set(value) on the attribute: obj.W.set(W)")

    def __call__(self, *args, **kwargs):
        return _wrap(self._session, self._session.request(
            {"op": "call", "target": self._target, "args": list(args), "kwargs": kwargs},
            self._timeout), self._timeout)

    def returning_inputs(self, *args, **kwargs):
        """(result, (args, kwargs) as the call left them): to see whether it changed its inputs."""
        value, (a, k) = self._session.request(
            {"op": "call", "target": self._target, "args": list(args), "kwargs": kwargs,
             "return_args": True}, self._timeout)
        return _wrap(self._session, value, self._timeout), (tuple(a), k)

    def get(self):
        return _wrap(self._session, self._session.request({"op": "get", "target": self._target},
                                                          self._timeout), self._timeout)

    def set(self, value) -> None:
        self._session.request({"op": "set", "target": self._target, "value": value}, self._timeout)

    def __repr__(self) -> str:
        return f"<remote {'.'.join(map(str, self._target))}>"


def _wrap(session, value, timeout):
    """Handles in a reply become Remote objects (a handle sent back names the same object)."""
    if isinstance(value, wire.Handle):
        return RemoteObject(session, [value], timeout)
    if type(value) is list:
        return [_wrap(session, v, timeout) for v in value]
    if type(value) is tuple:
        return tuple(_wrap(session, v, timeout) for v in value)
    if type(value) is dict:
        return {k: _wrap(session, v, timeout) for k, v in value.items()}
    return value


class RemoteObject(Remote):
    """An object made on the other side (a model, a class from a probe)."""

    @property
    def handle(self) -> wire.Handle:
        return self._target[0]

    @property
    def type_name(self) -> str:
        return self._target[0].type


def _unwrap(v):
    if isinstance(v, RemoteObject) and len(v._target) == 1:
        return v.handle
    if isinstance(v, Remote):
        raise TypeError("pass a value (.get()) or an object made on the other side, not an attribute")
    if type(v) is list:
        return [_unwrap(x) for x in v]
    if type(v) is tuple:
        return tuple(_unwrap(x) for x in v)
    if type(v) is dict:
        return {k: _unwrap(x) for k, x in v.items()}
    return v


class _Unwrapping(Session):
    def __init__(self, inner: Session):
        self.inner = inner

    def request(self, req, timeout=None):
        req = dict(req)
        for k in ("args", "kwargs", "value"):
            if k in req:
                req[k] = _unwrap(req[k])
        req["target"] = [_unwrap(t) if isinstance(t, Remote) else t for t in req["target"]]
        return self.inner.request(req, timeout)


class Namespace:
    """`st` or `ref`: the student's (or the reference's) names, and the assignment's probes."""

    def __init__(self, session: Session, probes: str | None = None, timeout: float | None = None):
        self._session = session if isinstance(session, _Unwrapping) else _Unwrapping(session)
        self._probes, self._timeout = probes, timeout

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("_"):
            raise AttributeError(name)
        return Remote(self._session, [name], self._timeout)

    def __getitem__(self, name: str) -> Remote:
        return Remote(self._session, [name], self._timeout)

    def probe(self, func: str, *args, **kwargs):
        """Run probes/<assignment>.py's `func(namespace, *args, **kwargs)` on this side."""
        if not self._probes:
            raise RuntimeError("this assignment has no probes module")
        return Remote(self._session, ["$probe", self._probes, func], self._timeout)(*args, **kwargs)

    def with_timeout(self, seconds: float) -> Namespace:
        """The same namespace, each call allowed `seconds` (a training run)."""
        return Namespace(self._session, self._probes, seconds)


# ------------------------------------------------------------------------------------------
# cases and verdicts
# ------------------------------------------------------------------------------------------
@dataclass
class CaseResult:
    function: str
    case: str | None
    passed: bool
    message: str = ""

    def line(self) -> str:
        what = self.function + (f" ({self.case})" if self.case else "")
        return f"  passed  {what}" if self.passed else f"  FAILED  {what}: {self.message}"


@dataclass
class Verdict:
    grade_id: str
    points: float
    cases: list[CaseResult] = field(default_factory=list)
    not_run: str | None = None  # why the test could not run at all
    seconds: float = 0.0  # how long its cases took (requests to the sandbox included)

    @property
    def passed(self) -> bool:
        return self.not_run is None and bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def score(self) -> float:
        return self.points if self.passed else 0.0

    def text(self) -> str:
        head = (f"Graded by the course's tests: {self.score:g} of {self.points:g} points")
        if self.not_run:
            return f"{head}. Not run: {self.not_run}"
        n = sum(c.passed for c in self.cases)
        body = "\n".join(c.line() for c in self.cases)
        return f"{head} ({n} of {len(self.cases)} cases passed)\n{body}"

    def to_json(self) -> dict:
        return dict(grade_id=self.grade_id, points=self.points, score=self.score,
                    not_run=self.not_run, seconds=round(self.seconds, 3),
                    cases=[c.__dict__ for c in self.cases])


_CURRENT: contextvars.ContextVar[list | None] = contextvars.ContextVar("dlcv_cases", default=None)


def _fmt_student_error(function: str, e: StudentError) -> str:
    where = e.where or function
    if e.is_a("NotImplementedError"):
        needed = f" (it is needed by {function})" if where != function else ""
        return f"{where} is not implemented yet{needed}"
    if e.is_a("NotDefined"):
        if e.is_a("CellFailed") or "failed when run on its own" in e.message:
            return e.message
        return f"{e.message}: run the cell that defines it, and keep its name"
    if e.name in ("Timeout", "KernelDied", "MemoryLimit", "WireError", "GradingError", "NotRun"):
        return f"{e.message}"
    if e.is_a("MemoryError"):
        return "ran out of memory (MemoryError)"
    inside = f" in {e.where}" if e.where and e.where != function else ""
    return f"{e.name}{inside}: {e.message}".rstrip(": ")


def _with_uses(message: str, uses: tuple[str, ...]) -> str:
    """`message`, then the reminder that the case also runs the student's functions `uses`: in
    parentheses after a message of one line, on a line of its own after one of several."""
    if not uses:
        return message
    one = len(uses) == 1
    note = (f"this test also runs your {join_names(uses)}: if {'its' if one else 'their'} own "
            f"{'test fails' if one else 'tests fail'}, fix {'it' if one else 'them'} first")
    return f"{message}\n  {note[0].upper()}{note[1:]}." if "\n" in message else f"{message} ({note})"


@contextlib.contextmanager
def case(function: str, case: str | None = None, *, uses: tuple[str, ...] = ()):
    """One case of a hidden test: its verdict is recorded, and the test goes on to the next.

    `uses`: the student's other functions the case also runs (a network's layers, the update
    rule of a training run): a failed case ends with a reminder that they may be the cause (not
    when it failed because a function is not implemented yet: that message names it)."""
    results = _CURRENT.get()
    if results is None:
        raise RuntimeError("case() is used inside a hidden test")
    uses = tuple(uses)
    try:
        yield
    except CheckFailed as e:
        results.append(CaseResult(function, case, False, _with_uses(str(e), uses)))
    except StudentError as e:
        message = _fmt_student_error(function, e)
        if not e.is_a("NotImplementedError"):
            message = _with_uses(message, uses)
        results.append(CaseResult(function, case, False, message))
    except ReferenceFailed as e:
        results.append(CaseResult(function, case, False,
                                  f"the course's reference failed on this case ({e}): what your code "
                                  "returned could not be checked; tell your instructor"))
    except Exception as e:  # noqa: BLE001 - what came back could not be checked
        results.append(CaseResult(function, case, False,
                                  _with_uses(f"what came back could not be checked ({type(e).__name__}: {e})",
                                             uses)))
    else:
        results.append(CaseResult(function, case, True))


def expect_raises(kind: str, call, what: str) -> None:
    """`call()` must raise the exception class named `kind` (or a subclass of it)."""
    try:
        call()
    except StudentError as e:
        if e.is_a(kind):
            return
        raise CheckFailed(f"{what} should raise {kind}, but raised {e.name}: {e.message}") from None
    raise CheckFailed(f"{what} should raise {kind}, but returned without an error")


# ------------------------------------------------------------------------------------------
# an assignment's hidden tests
# ------------------------------------------------------------------------------------------
@dataclass
class HiddenTest:
    grade_id: str
    func: object
    isolated: bool = False


@dataclass
class Isolated:
    """A part graded in a fresh kernel of its own: only its `cells` (grade ids: answer cells and
    given code) run there, after `preamble`, with the stricter `blocked` and `dlcv` (e.g. the
    numpy layers of an assignment whose notebook also uses torch)."""

    cells: list[str]
    blocked: tuple[str, ...] = NUMPY_ONLY
    dlcv: list[str] | None = None
    preamble: str = "import numpy as np"


class HiddenTests:
    """The registry a hidden_tests.py fills with @tests.test(grade_id), and the assignment's rules:

    - probes: the module of autograder/inside/probes/ its tests use (None: none);
    - preamble: what the reference namespace runs before the source's answer cells;
    - blocked: packages the sandboxed kernel cannot import (NUMPY_ONLY for numpy parts): the
      student's code, the visible tests and the hidden ones all run without them;
    - dlcv: the dlcv modules mounted in the sandbox (None: all); the lectures' teaching
      versions of graded functions are left out, so they cannot be imported at all;
    - isolated: a part graded in a kernel of its own (Isolated);
    - not_in_reference: answer cells `ref` does not run (cells that train on the notebook's data
      rather than define functions; their tests use what the student's notebook built).
    """

    def __init__(self, probes: str | None = None, preamble: str = "import numpy as np",
                 blocked: tuple[str, ...] = (), dlcv: list[str] | None = None,
                 isolated: Isolated | None = None, not_in_reference: tuple[str, ...] = ()):
        self.probes, self.preamble = probes, preamble
        self.not_in_reference = tuple(not_in_reference)  # answer cells `ref` leaves out
        self.blocked, self.dlcv = tuple(blocked), (list(dlcv) if dlcv is not None else None)
        self.isolated = isolated
        if isolated is not None and isolated.dlcv is None:
            isolated.dlcv = self.dlcv
        self.tests: dict[str, HiddenTest] = {}

    def test(self, grade_id: str, isolated: bool = False):
        """Register a hidden test of the test cell `grade_id`; `isolated`: it runs against the
        isolated part's kernel (see Isolated), not the notebook's."""
        if isolated and self.isolated is None:
            raise ValueError(f"{grade_id}: an isolated test needs HiddenTests(isolated=Isolated(...))")

        def deco(func):
            if grade_id in self.tests:
                raise ValueError(f"two hidden tests for {grade_id!r}")
            self.tests[grade_id] = HiddenTest(grade_id, func, isolated)
            return func
        return deco


@dataclass
class Spec:
    """What the trusted grader needs for one assignment: its hidden tests and its source
    notebook (for the reference answers and the test cells' points and requirements)."""

    assignment: str
    hidden_source: str
    source_notebook: str  # JSON text

    @classmethod
    def find(cls, root: Path, assignment: str, notebook: str | None = None) -> Spec | None:
        folder = Path(root) / "assignments" / assignment
        hidden = folder / HIDDEN_TESTS_FILE
        if not hidden.is_file():
            return None
        name = notebook or assignment
        src = folder / f"{name}.ipynb"
        if not src.is_file():
            return None
        return cls(assignment, hidden.read_text(), src.read_text())

    def digest(self) -> str:
        return hashlib.sha256((self.assignment + "\0" + self.hidden_source + "\0"
                               + self.source_notebook).encode()).hexdigest()

    def load(self) -> HiddenTests:
        name = f"dlcv_hidden_{self.assignment}_{self.digest()[:12]}"
        mod = sys.modules.get(name)
        if mod is None:
            mod = types.ModuleType(name)
            mod.__file__ = f"<hidden tests of {self.assignment}>"
            mod.SOURCE = self  # SOURCE.value("SETTINGS"): what the tests share with the notebook
            exec(compile(self.hidden_source, f"{self.assignment}/{HIDDEN_TESTS_FILE}", "exec"),  # noqa: S102 - the instructor's tests
                 mod.__dict__)
            sys.modules[name] = mod
        tests = getattr(mod, "tests", None)
        if not isinstance(tests, HiddenTests):
            raise RuntimeError(f"{self.assignment}/{HIDDEN_TESTS_FILE} defines no `tests = HiddenTests()`")
        return tests

    def notebook(self):
        import nbformat

        return nbformat.reads(self.source_notebook, as_version=4)

    def cell(self, grade_id: str) -> str:
        """The source of the source notebook's cell `grade_id` (given code a probe runs afresh)."""
        for c in self.notebook().cells:
            if nbgrader_meta(c).get("grade_id") == grade_id:
                return c.source
        raise KeyError(f"the source notebook of {self.assignment} has no cell {grade_id!r}")

    def value(self, name: str):
        """The value a top-level `name = ...` of the source notebook's code gives (the first one):
        settings that the hidden tests share with the notebook, from one place. The expression
        may use literals, dict(), list() and tuple()."""
        import ast

        for c in self.notebook().cells:
            if c.cell_type != "code":
                continue
            try:
                tree = ast.parse(c.source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                        for t in node.targets):
                    code = compile(ast.Expression(node.value), f"<{name} in the source>", "eval")
                    return eval(code, {"__builtins__": {}, "dict": dict, "list": list,  # noqa: S307 - literals only
                                       "tuple": tuple})
        raise KeyError(f"the source notebook of {self.assignment} assigns no {name}")

    def test_cells(self) -> dict[str, dict]:
        """grade_id -> {points, requires} of every test cell of the source notebook."""
        out = {}
        for c in self.notebook().cells:
            m = nbgrader_meta(c)
            if c.cell_type == "code" and m.get("grade") and not m.get("solution"):
                out[m["grade_id"]] = dict(points=float(m.get("points", 0)),
                                          requires=c.get("metadata", {}).get("dlcv", {}).get("requires"))
        return out

    def reference_source(self) -> list[tuple[str, str]]:
        """(grade_id, source) of the cells the reference runs: answers and given code."""
        out = []
        for c in self.notebook().cells:
            m = nbgrader_meta(c)
            if c.cell_type != "code" or m.get("grade") and not m.get("solution"):
                continue
            if m.get("solution") or (m.get("locked") and m.get("grade_id")):
                out.append((m.get("grade_id", "?"), c.source))
        return out


_REFERENCES: dict[str, tuple[dict, dict]] = {}  # spec digest -> (namespace, memo)


def reference(spec: Spec, tests: HiddenTests) -> Namespace:
    """`ref`: the source notebook's answers run here once per process, replies remembered."""
    key = spec.digest()
    if key not in _REFERENCES:
        ns: dict = {"__name__": f"dlcv_reference_{spec.assignment}"}
        exec(compile(tests.preamble, "<preamble>", "exec"), ns)  # noqa: S102 - the instructor's code
        for gid, src in spec.reference_source():
            if gid in tests.not_in_reference:
                continue
            try:
                exec(compile(src, f"<reference cell {gid}>", "exec"), ns)  # noqa: S102 - the source's own solutions
            except Exception as e:  # the instructor's to fix: every test that needs it says so
                raise RuntimeError(f"{spec.assignment}: the source's cell {gid!r} fails when the "
                                   f"reference runs it ({type(e).__name__}: {e}); list it in "
                                   "HiddenTests(not_in_reference=...) if it needs the notebook's data") from e
        _REFERENCES[key] = (ns, {})
    ns, memo = _REFERENCES[key]
    return Namespace(LocalSession(ns, memo, key, reference=True), tests.probes)


def run_hidden_tests(spec: Spec, student: Session, skip: dict[str, str] | None = None,
                     budget: float | None = None, log=None, isolated: bool = False) -> dict[str, Verdict]:
    """The verdict of every test cell whose hidden test runs on this side (the notebook's kernel,
    or with `isolated` the isolated part's). `skip`: grade_id -> why it is not run (an answer it
    needs hit a limit); `budget`: seconds for all of them (a test started after it is not run)."""
    tests = spec.load()
    cells = spec.test_cells()
    ref = reference(spec, tests)
    st = Namespace(student, tests.probes)
    skip = skip or {}
    end = time.monotonic() + budget if budget else None
    out: dict[str, Verdict] = {}
    for gid, info in cells.items():
        test = tests.tests.get(gid)
        if (test is not None and test.isolated) != isolated:
            continue
        v = Verdict(gid, info["points"])
        out[gid] = v
        if gid in skip:
            v.not_run = skip[gid]
            continue
        if test is None:
            v.not_run = "the instructor's hidden tests have no test for this cell"
            continue
        if end is not None and time.monotonic() > end:
            v.not_run = "grading stopped after its time limit"
            continue
        if hasattr(student, "begin_test"):
            student.begin_test(gid)
        token = _CURRENT.set(v.cases)
        started = time.monotonic()
        try:
            with case(gid.removeprefix("test_"), "setting up the test"):
                test.func(st, ref)
            if v.cases and v.cases[-1].case == "setting up the test":
                last = v.cases.pop()
                if not last.passed:
                    v.cases.append(last)
        finally:
            _CURRENT.reset(token)
            v.seconds = time.monotonic() - started
    return out


def verdicts_json(verdicts: dict[str, Verdict]) -> str:
    return json.dumps({g: v.to_json() for g, v in verdicts.items()}, indent=1)


def as_array(x, name: str) -> np.ndarray:
    """A reply as a numeric array, or CheckFailed naming what came back instead."""
    try:
        a = np.asarray(x)
    except Exception:  # noqa: BLE001 - whatever the reply is, the student gets a message
        raise CheckFailed(f"{name} should be an array, got {type(x).__name__}") from None
    if a.dtype.kind not in "biuf":
        raise CheckFailed(f"{name} should hold numbers, got {type(x).__name__} of dtype {a.dtype}")
    return a
