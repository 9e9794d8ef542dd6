"""Integrity of a submission: its structure against the gradebook, and tampering at run time.

Two halves:

1. `IntegrityCheck`, an nbgrader *sanitize* preprocessor (it runs before DeduplicateIds and
   OverwriteCells, on the notebook as the student handed it in): compares the graded cells with
   the gradebook's source cells and records what the later steps will repair or ignore:
   a locked or test cell that was edited (OverwriteCells puts the original back), a deleted test
   cell (it earns nothing), a grade_id that appears more than once (DeduplicateIds keeps the last
   copy), an unknown grade_id (a renamed cell: it counts as an ordinary cell), a changed cell type
   or point value. The findings travel in the notebook's metadata to `SandboxedExecute`, which
   writes them into the notebook's report (`<nb>.sandbox.json`, "integrity") and its incidents,
   so they reach the autograde log's notes.

2. `Guard`, used by the sandbox client (autograder/sandbox_run.py): student code runs in the
   same kernel as the tests, so it can monkeypatch what the tests rely on (`np.allclose`,
   `builtins.AssertionError`, `dlcv.checks.expect_close`, IPython's `showtraceback`, ...).
   Right after the kernel starts, before any student code, a hidden probe records fingerprints
   of those objects (identity, code object, defaults, closure cells, class dictionaries); the
   fingerprints are kept *outside* the kernel, in the client. Before and after every test cell
   the probe runs again (with a fresh random nonce) and the client compares: a digest per
   group of fingerprints (numpy, builtins, IPython, ...), and, when one differs, every
   fingerprint of a second probe, to name what was replaced. (A test cell that directly
   follows another one is probed once in between, for the names of both.) It also checks that
   the names a test cell uses (`expect_close`, `np`, ...) are the real objects, not look-alikes
   defined by the student, and, from outside, that a test cell whose execute_reply says "error"
   did show its error (a hidden traceback would otherwise earn the test's points).
   When anything was replaced, every test cell of the notebook gets an error output
   "integrity check failed: numpy.allclose was replaced" (it earns 0) and the reason is reported.

   The probe runs in the student's process, so a determined attacker who reads this file can
   still forge it (e.g. by recognising the probe's cell in a patched `run_cell` and answering
   for it); it stops the simple and the moderately clever ways, and every forging attempt must
   itself patch something the probe watches in the first place.
"""

from __future__ import annotations

import ast
import json
import secrets

from nbgrader.preprocessors import NbGraderPreprocessor

META_KEY = "dlcv_integrity"  # notebook metadata: structural findings, sanitize -> autograde step
MARK = "DLCV-INTEGRITY-PROBE"

# ------------------------------------------------------------------------------------------
# the probe (runs inside the kernel, in its own globals: NONCE, BASE, DETAIL, NAMES)
# ------------------------------------------------------------------------------------------
WATCH_MODULES = ["builtins", "math", "numpy", "numpy.testing", "numpy._core.numeric",
                 "numpy._core.fromnumeric", "dlcv.checks", "dlcv.gradcheck",
                 "hashlib", "json"]  # the last two: what the probe itself uses to report
SHELL_METHODS = ["run_cell", "run_cell_async", "run_code", "run_ast_nodes", "showtraceback",
                 "_showtraceback", "showsyntaxerror", "showindentationerror", "get_exception_only",
                 "transform_cell", "transform_ast", "should_run_async", "set_custom_exc",
                 "CustomTB", "excepthook"]
KERNEL_METHODS = ["do_execute", "execute_request", "send_response"]
SESSION_METHODS = ["send", "serialize", "pack"]

PROBE_SRC = r'''
def _dlcv_probe():
    import builtins, hashlib, importlib, json, sys, types
    out, seen = {}, {}

    def fp(o, depth=0):
        if depth > 3:
            return "..."
        if isinstance(o, types.MethodType):  # a new object at every access: its parts count
            return f"method:{id(o.__self__)}:{fp(o.__func__, depth + 1)}"
        if isinstance(o, types.BuiltinMethodType) and not isinstance(o.__self__, types.ModuleType) \
                and o.__self__ is not None:
            return f"bmethod:{id(o.__self__)}:{o.__name__}"
        parts = [type(o).__name__, str(id(o))]
        if False:
            pass
        elif isinstance(o, types.FunctionType):
            parts += [str(id(o.__code__)), str(id(o.__defaults__)), repr(o.__kwdefaults__),
                      str(id(o.__globals__))]
            for c in o.__closure__ or ():
                try:
                    parts.append(str(id(c.cell_contents)))
                except ValueError:
                    parts.append("empty")
            w = o.__dict__.get("__wrapped__")
            if w is not None:
                parts.append(fp(w, depth + 1))
        elif isinstance(o, type):
            if o.__flags__ & (1 << 9):  # a heap type: its dictionary can be changed
                h = hashlib.sha1()
                for k, v in sorted(vars(o).items()):
                    if callable(v) or isinstance(v, (classmethod, staticmethod, property)):
                        h.update(f"{k}={fp(getattr(v, '__func__', v), depth + 1)};".encode())
                parts.append(h.hexdigest()[:16])
        elif hasattr(o, "_implementation"):  # numpy's array-function dispatchers
            parts.append(fp(o._implementation, depth + 1))
        return ":".join(parts)

    if BASE:
        for m in WATCH_MODULES:
            try:
                importlib.import_module(m)
            except Exception:
                pass
    watch = {}
    for m in WATCH_MODULES:
        mod = sys.modules.get(m)
        if mod is None:
            continue
        watch[m] = str(id(mod))
        for k, v in list(vars(mod).items()):
            if k.startswith("__") and m != "builtins" or k in ("_", "__", "___"):
                continue
            if callable(v) and not isinstance(v, types.ModuleType):
                watch[f"{m}.{k}"] = fp(v)
    watch["sys.excepthook"] = fp(sys.excepthook)
    watch["sys.displayhook"] = fp(sys.displayhook)
    watch["sys.gettrace()"] = repr(sys.gettrace())
    watch["sys.getprofile()"] = repr(sys.getprofile())
    watch["sys.modules"] = str(id(sys.modules))
    try:
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell._instance
    except Exception:
        shell = None
    if shell is not None:
        for k in SHELL_METHODS:
            watch[f"IPython shell.{k}"] = fp(getattr(shell, k, None))
        for cls in type(shell).__mro__[:-1]:  # the base classes too (a patch may sit there)
            for k in SHELL_METHODS:
                if k in vars(cls):
                    watch[f"IPython {cls.__name__}.{k}"] = fp(vars(cls)[k])
        watch["IPython shell.custom_exceptions"] = repr(shell.custom_exceptions)
        for k in ("ast_transformers", "input_transformers_cleanup", "input_transformers_post"):
            watch[f"IPython shell.{k}"] = repr([id(t) for t in getattr(shell, k, [])])
        for k in ("displayhook", "display_pub", "display_formatter", "compile", "InteractiveTB",
                  "SyntaxTB", "user_ns", "user_global_ns"):
            watch[f"IPython shell.{k}"] = str(id(getattr(shell, k, None)))
        tb = getattr(shell, "InteractiveTB", None)
        if tb is not None:
            watch["IPython shell.InteractiveTB.structured_traceback"] = fp(tb.structured_traceback)
        watch["IPython user namespace __builtins__"] = str(id(shell.user_ns.get("__builtins__")))
        kernel = getattr(shell, "kernel", None)
        if kernel is not None:
            for k in KERNEL_METHODS:
                watch[f"ipykernel kernel.{k}"] = fp(getattr(kernel, k, None))
            session = getattr(kernel, "session", None)
            for k in SESSION_METHODS:
                watch[f"ipykernel session.{k}"] = fp(getattr(session, k, None))
    out["watch"] = watch

    # The names a test cell uses must be the real objects, not look-alikes.
    problems = []
    ns = shell.user_ns if shell is not None else {}
    checks = sys.modules.get("dlcv.checks")
    for name in NAMES:
        if name not in ns:
            continue
        v = ns[name]
        if checks is not None and name in vars(checks) and not name.startswith("_"):
            real = vars(checks)[name]
            if (getattr(real, "__module__", None) == "dlcv.checks" or isinstance(real, types.ModuleType)) \
                    and v is not real:
                problems.append(f"`{name}` is not dlcv.checks.{name}")
                continue
        if name in ("np", "numpy") and v is not sys.modules.get("numpy"):
            problems.append(f"`{name}` is not the numpy module")
            continue
        if isinstance(v, types.ModuleType):
            if sys.modules.get(v.__name__) is not v:
                problems.append(f"`{name}` is not the real module {v.__name__}")
            continue
        mod, qual = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
        if callable(v) and isinstance(mod, str) and isinstance(qual, str) and mod in sys.modules \
                and mod != "__main__" and "<" not in qual:
            real = sys.modules[mod]
            try:
                for part in qual.split("."):
                    real = getattr(real, part)
            except AttributeError:
                continue
            if real is not v and not (isinstance(v, types.MethodType) or hasattr(real, "__get__")
                                      and not isinstance(real, types.FunctionType)):
                problems.append(f"`{name}` pretends to be {mod}.{qual}")
    out["names"] = problems
    groups = {}
    for k in sorted(watch):  # a digest per group: numpy, builtins, IPython, ipykernel, sys, ...
        groups.setdefault(k.split(".", 1)[0].split(" ", 1)[0], hashlib.sha1()).update(
            f"{k}={watch[k]}\n".encode())
    out["groups"] = {g: h.hexdigest() for g, h in groups.items()}
    if not DETAIL:
        del out["watch"]
    print(MARK, NONCE, json.dumps(out))

_dlcv_probe()
'''


def probe_code(nonce: str, base: bool, names: list[str], detail: bool = True) -> str:
    """The cell the client runs in the kernel: the probe in its own globals. It prints the group
    digests, and with `detail` every fingerprint ("watch")."""
    glb = dict(NONCE=nonce, BASE=base, DETAIL=detail or base, NAMES=sorted(names), MARK=MARK,
               WATCH_MODULES=WATCH_MODULES,
               SHELL_METHODS=SHELL_METHODS, KERNEL_METHODS=KERNEL_METHODS, SESSION_METHODS=SESSION_METHODS)
    return (f"exec({PROBE_SRC!r}, {{'__name__': '_dlcv_probe', **{glb!r}}})")


def names_used(source: str) -> set[str]:
    """The global names a (test) cell's code reads: `expect_close`, `np`, the student's functions."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _parse_probe(outputs, nonce: str) -> dict | None:
    for o in outputs:
        if o.get("output_type") != "stream":
            continue
        for line in o.get("text", "").splitlines():
            if line.startswith(f"{MARK} {nonce} "):
                try:
                    return json.loads(line[len(MARK) + len(nonce) + 2:])
                except ValueError:
                    return None
    return None


def _pretty(key: str) -> str:
    return key.replace("IPython shell.", "IPython's shell.").replace(
        "ipykernel kernel.", "ipykernel's kernel.").replace("ipykernel session.", "ipykernel's session.")


class Guard:
    """The client's side of the tampering probe (see the module doc)."""

    probe_timeout = 30.0

    def __init__(self, log=None):
        self.base: dict | None = None  # fingerprints of the untouched kernel
        self.groups: dict | None = None  # the digests expected from a probe
        self.probes = 0
        self.reasons: list[str] = []
        self.cell: int | None = None  # the cell after which tampering was first seen
        self.log = log
        self.unavailable: str | None = None

    @property
    def tampered(self) -> bool:
        return bool(self.reasons)

    def _run(self, runner, base: bool, names, detail: bool = False) -> tuple[str, dict | None]:
        nonce = secrets.token_hex(8)
        status, outputs, _ = runner.execute(probe_code(nonce, base, list(names), detail),
                                            self.probe_timeout, keep=True, history=False, wall=False)
        self.probes += 1
        out = _parse_probe(outputs, nonce)
        ok = (isinstance(out, dict) and isinstance(out.get("groups"), dict)
              and isinstance(out.get("names"), list)
              and (not (detail or base) or isinstance(out.get("watch"), dict)))
        return status, out if ok else None

    def baseline(self, runner) -> None:
        """Record the fingerprints in a kernel no student code has touched yet."""
        status, out = self._run(runner, True, [])
        if out is None:  # our own failure, before any student code: never the student's fault
            self.base = None
            self.unavailable = f"the integrity probe could not run ({status})"
            if self.log:
                self.log.warning("integrity: %s", self.unavailable)
            return
        self.base, self.groups = out["watch"], out["groups"]

    def check(self, runner, names, cell: int) -> bool:
        """Probe now; True (and the reasons recorded) when something was tampered with."""
        if self.base is None or self.tampered:
            return self.tampered
        status, out = self._run(runner, False, names)
        if out is not None and out["groups"] == self.groups:
            return self.flag(cell, "; ".join(out["names"])) if out["names"] else False
        if out is not None:
            # a group differs: every fingerprint, to name what was replaced (or to see that only
            # something new was added to a module, which changes nothing the tests rely on; the
            # reference stays the untouched kernel's, so every later probe looks in detail too)
            status, out = self._run(runner, False, names, detail=True)
        if out is None:
            return self.flag(cell, "the integrity probe was suppressed or did not finish "
                                   f"({status}): the notebook tampered with the kernel")
        changed = [k for k, v in self.base.items() if out["watch"].get(k) != v]
        # the probe's own tools first: replacing them changes the fingerprints of much else
        changed.sort(key=lambda k: not k.startswith(("hashlib.", "json.")))
        reasons = [f"{_pretty(k)} was replaced" for k in changed[:5]]
        if len(changed) > 5:
            reasons.append(f"and {len(changed) - 5} more")
        reasons += out.get("names", [])
        if reasons:
            return self.flag(cell, "; ".join(reasons))
        return False

    def flag(self, cell: int, reason: str) -> bool:
        if not self.reasons:
            self.cell = cell
        self.reasons.append(reason)
        return True

    @property
    def message(self) -> str:
        return "integrity check failed: " + "; ".join(self.reasons)

    def report(self) -> dict:
        return dict(tampered=self.tampered, reasons=self.reasons, cell=self.cell,
                    unavailable=self.unavailable)


# ------------------------------------------------------------------------------------------
# structure: the submitted notebook against the gradebook (a sanitize preprocessor)
# ------------------------------------------------------------------------------------------
def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _visible(source: str) -> list[str]:
    """A cell's lines without the hidden-test region and blank lines (what the student sees)."""
    out, hidden = [], False
    for line in (source or "").splitlines():
        t = line.strip()
        if t == "### BEGIN HIDDEN TESTS":
            hidden = True
        elif t == "### END HIDDEN TESTS":
            hidden = False
        elif t and not hidden:
            out.append(line.rstrip())
    return out


class IntegrityCheck(NbGraderPreprocessor):
    """Record (not repair) how the graded cells of a submission differ from the gradebook."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        info = resources.get("nbgrader", {})
        findings: list[dict] = []

        def note(kind, message, cell=None, grade_id=None):
            findings.append(dict(kind=kind, message=message, cell=cell, grade_id=grade_id))

        try:
            with Gradebook(info["db_url"]) as gb:
                src = gb.find_notebook(info["notebook"], info["assignment"])
                source_cells = {c.name: c for c in src.source_cells}
                points = {c.name: float(c.max_score) for c in src.grade_cells}
                solutions = {c.name for c in src.solution_cells}
        except (KeyError, MissingEntry) as e:
            self.log.warning("integrity: no gradebook entry to compare with: %s", e)
            return nb, resources
        seen: dict[str, list[int]] = {}
        for i, cell in enumerate(nb.cells):
            m = _nbg(cell)
            gid = m.get("grade_id")
            if not gid or not (m.get("grade") or m.get("solution") or m.get("locked") or m.get("task")):
                continue
            seen.setdefault(gid, []).append(i)
        for gid, idx in seen.items():
            if gid not in source_cells:
                note("UnknownCell", f"cell {idx[0]} has grade_id {gid!r}, which the assignment does not "
                                    "have (renamed?): it counts as an ordinary cell", idx[0], gid)
                for i in idx:  # an ordinary cell (nbgrader would fail on a grade cell without an id)
                    nb.cells[i].metadata.pop("nbgrader", None)
                continue
            if len(idx) > 1:
                note("DuplicateCell", f"grade_id {gid!r} appears {len(idx)} times (cells "
                                      f"{', '.join(map(str, idx))}): only the last copy counts",
                     idx[-1], gid)
                # DeduplicateIds would leave `"nbgrader": {}`, which nbgrader's own validator then
                # rejects (schema version 0): make the earlier copies ordinary cells here.
                for i in idx[:-1]:
                    nb.cells[i].metadata.pop("nbgrader", None)
            cell, sc = nb.cells[idx[-1]], source_cells[gid]
            if cell.cell_type != sc.cell_type:
                note("CellTypeChanged", f"cell {gid!r} was changed from {sc.cell_type} to "
                                        f"{cell.cell_type}: restored", idx[-1], gid)
            elif sc.locked:
                # The student edition lacks the hidden tests: compare with the source without them.
                if _visible(cell.source) != _visible(sc.source):
                    what = "test cell" if gid in points and gid not in solutions else "locked cell"
                    note("EditedCell", f"{what} {gid!r} was edited: the original was restored",
                         idx[-1], gid)
            if gid in points and gid not in solutions:
                try:
                    p = float(_nbg(cell).get("points", points[gid]))
                except (TypeError, ValueError):
                    p = None
                if p != points[gid]:
                    note("PointsChanged", f"the points of {gid!r} were changed to {p}: "
                                          f"{points[gid]:g} restored", idx[-1], gid)
        for gid in points:
            if gid not in seen and gid not in solutions:
                note("MissingCell", f"test cell {gid!r} is missing from the submission (deleted or "
                                    f"renamed): its {points[gid]:g} point(s) are not earned", None, gid)
            elif gid not in seen:
                note("MissingCell", f"answer cell {gid!r} is missing from the submission", None, gid)
        nb.metadata[META_KEY] = findings
        for f in findings:
            self.log.warning("integrity: %s", f["message"])
        return nb, resources
