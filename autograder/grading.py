"""The trusted half of grading one notebook: the hidden tests, against the sandboxed kernel.

SandboxedExecute (autograder/sandbox.py) runs the submission in the sandbox; then, with the
kernel as the notebook left it, `grade_kernel` runs the assignment's hidden tests
(autograder/hidden.py) here, in the grader's process. Each call of a student's function is one
short request executed in the kernel (autograder/inside/serve.py), with the per-cell time limit;
a call that kills or wedges the kernel restarts it (the notebook's earlier cells replayed) and
fails only its own case. Then every test cell's outputs are rewritten:

- what the kernel printed for the visible test stays, as plain text (an error the kernel showed
  decides nothing: it becomes text too);
- the trusted verdict is appended: the points earned, and each case with passed, or what was
  wrong; a test that failed ends in an error output, so nbgrader's own rule (an error gives 0,
  otherwise full points) records exactly the verdict.
"""

from __future__ import annotations

import re
import time

import nbformat

from autograder.hidden import Session, Spec, StudentError, Verdict, run_hidden_tests
from autograder.inside import serve
from autograder.notebooks import failed_cells, nbgrader_meta

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class KernelSession(Session):
    """Requests answered by the sandboxed kernel of a finished notebook run (sandbox_run._Runner)."""

    def __init__(self, runner, inside_path: str, budget: float):
        self.runner, self.path = runner, inside_path
        self.deadline = time.monotonic() + budget
        self.broken: str | None = None
        self.calls = 0
        self.note = ""  # said with a name that is not defined (why its cell failed)
        self.stopped_in_test: str | None = None  # a case of the current test killed or wedged it

    def begin_test(self, grade_id: str) -> None:
        """A new hidden test: a kernel that an earlier test killed is restarted for it."""
        self.stopped_in_test = None

    def _restart(self, why: str) -> None:
        r = self.runner
        failed = r.restart(getattr(r, "replay", []))
        if failed:
            self.broken = f"{why}; the kernel could not be restarted: {failed}"

    def request(self, req: dict, timeout: float | None = None):
        from autograder.inside import wire
        from autograder.sandbox_run import _death_message

        if self.broken:
            raise StudentError(["KernelDied"], self.broken)
        if self.stopped_in_test:  # the test fails anyway: no more restarts or time limits for it
            raise StudentError(["NotRun"], f"not run: an earlier case of this test {self.stopped_in_test}")
        r = self.runner
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StudentError(["Timeout"], "grading stopped: the time for the hidden tests ran out")
        limit = min(timeout or r.limits.cell_timeout, left)
        p = self.path
        request = wire.encode(req)
        code = (f"__import__('sys').path.insert(0, {p!r}) if {p!r} not in __import__('sys').path "
                f"else None\n__import__('dlcv_inside.serve', fromlist=['handle']).handle({request!r})")
        self.calls += 1
        if r.kernel is None or not r.kernel.alive():
            self._restart("the kernel had stopped")
            if self.broken:
                raise StudentError(["KernelDied"], self.broken)
        status, outputs, _ = r.execute(code, limit, keep=True, history=False, wall=False,
                                       max_output=wire.MAX_TEXT, only_mime=serve.REPLY_MIME)
        reply = None
        for o in outputs:
            if o.output_type == "display_data" and serve.REPLY_MIME in o.get("data", {}):
                reply = o["data"][serve.REPLY_MIME]
        if status in ("timeout", "stuck", "wall"):
            self.stopped_in_test = "ran out of time"
            if status == "stuck":
                self._restart("a call did not stop when interrupted")
            raise StudentError(["Timeout"], f"did not finish within {limit:g} s (the time limit of "
                                            "one call)")
        if status in ("dead", "broken"):
            ename, message = (_death_message(r.kernel.exit_code(), r.limits) if status == "dead" else
                              ("KernelDied", "the kernel's messages could not be read any more"))
            self.stopped_in_test = "stopped the kernel"
            self._restart(message)
            raise StudentError(["KernelDied"], message)
        if reply is None:
            err = next((o for o in outputs if o.output_type == "error"), None)
            detail = f": {err.ename}: {err.evalue}" if err is not None else ""
            raise StudentError(["GradingError"], f"the kernel did not answer the grader{detail}")
        try:
            return self._reply(reply)
        except StudentError as e:
            if e.is_a("NotDefined") and not e.is_a("CellFailed") and self.note:
                raise StudentError(e.types, f"{e.message} ({self.note})", e.where) from None
            if e.is_a("MemoryError"):
                self.stopped_in_test = "ran out of memory"
                self._restart("memory limit")
                raise StudentError(["MemoryLimit"], f"memory limit of "
                                                    f"{r.limits.memory / 2**30:g} GB exceeded") from None
            raise


def _as_text(out) -> nbformat.NotebookNode:
    """A kernel's output of a test cell as inert plain text (errors and results included)."""
    if out.output_type == "error":
        tb = "\n".join(_ANSI.sub("", str(line)) for line in out.get("traceback") or [])
        text = tb or f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
        return nbformat.v4.new_output("stream", name="stdout", text=text.rstrip("\n") + "\n")
    if out.output_type == "stream" and out.get("name") == "stderr":  # nbgrader: any stderr gives 0
        return nbformat.v4.new_output("stream", name="stdout", text=out.get("text", ""))
    if out.output_type == "execute_result":  # nbgrader would read a number in it as a score
        return nbformat.v4.new_output("display_data", data=dict(out.get("data", {})),
                                      metadata=dict(out.get("metadata", {})))
    return out


def apply_verdicts(nb, verdicts: dict[str, Verdict]) -> None:
    """Rewrite every test cell's outputs: the kernel's as text, then the trusted verdict."""
    for cell in nb.cells:
        m = nbgrader_meta(cell)
        if cell.cell_type != "code" or not m.get("grade") or m.get("solution"):
            continue
        v = verdicts.get(m.get("grade_id"))
        outs = [_as_text(o) for o in cell.get("outputs", [])]
        if v is None:
            continue
        if v.passed:
            outs.append(nbformat.v4.new_output("stream", name="stdout", text=v.text() + "\n"))
        else:
            outs.append(nbformat.v4.new_output("error", ename="CheckFailed",
                                               evalue=v.text(), traceback=v.text().splitlines()))
        cell.outputs = outs


def grade_kernel(runner, spec: Spec, inside_path: str, isolated: bool = False, log=None,
                 cell_errors: dict | None = None) -> tuple[dict, dict]:
    """The hidden stage (run_notebook's `then`): (verdicts of the tests of this kernel: the
    notebook's, or with `isolated` the isolated part's), the report's part."""
    start = time.monotonic()
    skip: dict[str, str] = {}
    cells = runner.nb.cells
    for i, why in getattr(runner, "not_run", {}).items():
        gid = nbgrader_meta(cells[i]).get("grade_id")
        if gid:
            skip[gid] = why
    stopped = getattr(runner, "stopped", {})
    for gid, cell in spec.test_cells().items():
        blocked = [a for a in (cell["requires"] or []) if a in stopped]
        if blocked and gid not in skip:
            skip[gid] = f"it needs answer cell {blocked[0]!r}, which was stopped: {stopped[blocked[0]]}"
    session = KernelSession(runner, inside_path, budget=runner.limits.wall_timeout)
    # a name not defined because its cell stopped (a SyntaxError): that cell's error, with its line
    session.failed_cells = failed_cells(runner.nb, answers_only=not isolated)
    session.failed_where = " when run on its own, as grading runs it" if isolated else ""
    runner.restarts, runner.max_restarts = 0, 10  # restarts of its own (one per test at most)
    if cell_errors:
        session.note = "; ".join(f"answer cell {g!r} failed when run on its own for grading: {e}"
                                 for g, e in cell_errors.items() if g)
    verdicts = run_hidden_tests(spec, session, skip=skip, budget=runner.limits.wall_timeout, log=log,
                                isolated=isolated)
    return verdicts, {"hidden_seconds": round(time.monotonic() - start, 3),
                      "hidden_calls": session.calls}
