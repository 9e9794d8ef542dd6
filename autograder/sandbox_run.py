"""Running a notebook in a (sandboxed) kernel, with limits, for the autograder.

The client runs in the grader's process, outside the sandbox; the kernel runs inside it (see
autograder/sandbox.py) and the two talk over Unix sockets. Every code cell runs in order with a
per-cell time limit, the whole notebook within a wall-clock limit. Outcomes (recorded in the
notebook as error outputs, so nbgrader's grade of the cell is 0, and in the returned report):

- a cell that runs past its limit is interrupted: "cell timed out after 60 s";
- a cell that hits the memory or file-size limit: "memory limit of 4 GB exceeded" etc.;
- a kernel that dies (segfault, os._exit, CPU-time limit, a stuck interrupt), or that hit the
  memory or process limit (what the cell allocated or started may still be held: a list
  filling the memory, the traceback's frames, forked processes, and every later cell would fail
  too), is restarted and the cells that ran before (answer and set-up cells, not tests, not
  the offending cell) are run again, silently, so the rest of the notebook runs in the state it
  expects and later independent tests still earn their points;
- what the kernel writes to stderr (warnings) is recorded as stdout: nbgrader would give a
  test cell with any stderr output 0 points, however right the answer;
- past the wall-clock limit, nothing more runs: "the notebook was stopped after the
  wall-clock limit of 1800 s"; every code cell left gets a "not run" error (a test cell with
  no error would earn its points).

Which tests earn nothing: a cell that hit a limit may have left half its work done (an answer
cell that defines `f` and then loops forever). So:
- an answer cell that hit a limit is *stopped*; every later test cell that needs it (its
  `dlcv.requires` metadata, or every answer cell above it when it says nothing) is not run
  and earns nothing;
- a test cell that hit a limit earns nothing itself; nothing else changes;
- any other cell (set-up code, a cell the student added) that hit a limit stops the notebook:
  nobody can tell what depended on it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import nbformat
from nbformat.notebooknode import NotebookNode

from autograder.notebooks import nbgrader_meta


@dataclass
class Limits:
    """Every limit of a graded kernel, with its default: the one place they are written.
    SandboxedExecute's options (c.SandboxedExecute.timeout, ... in autograder/nbgrader_config.py)
    default to course_limits(), which grows them for CIFAR-10."""

    cell_timeout: float = 180  # seconds per cell
    wall_timeout: float = 1800  # seconds for the whole notebook
    memory: int = 4 * 2**30  # bytes of address space
    cpu: int = 1800  # CPU seconds per kernel
    file_size: int = 64 * 2**20  # largest file a submission may write, bytes
    nproc: int = 256  # processes and threads of the sandbox's user
    max_output: int = 2**20  # output kept per cell, bytes
    startup_timeout: float = 60  # seconds to wait for the kernel to start
    interrupt_grace: float = 5  # seconds an interrupted cell gets before the kernel is restarted
    tmp_size: int = 256 * 2**20  # bytes each of /tmp, /var/tmp and the home folder may hold


# With CIFAR-10 in the course's data folder a1-a3 train on 49,000 colour images instead of 1,257
# digits: a training cell takes minutes (a1's linear search about 3) and a kernel holds the data
# set in float64 (a3 about 4.5 GB resident), so these limits grow with it.
CIFAR10_LIMITS = dict(cell_timeout=900, wall_timeout=3600, cpu=3600, memory=12 * 2**30)


def course_limits() -> Limits:
    """The limits for the course's data: the defaults, or CIFAR10_LIMITS when CIFAR-10 is there."""
    from dlcv.data import cifar10_available

    return Limits(**CIFAR10_LIMITS) if cifar10_available() else Limits()


# Limits after which the kernel is restarted even though it is still alive: what the cell took
# may still be held (by the student's variables, or by the frames of the traceback IPython keeps).
RESTART_AFTER = ("MemoryLimit", "ProcessLimit")


def _size(n: int) -> str:
    for unit, k in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n >= k:
            return f"{n / k:g} {unit}"
    return f"{n} bytes"



def _kind(cell) -> str:
    m = nbgrader_meta(cell)
    if m.get("solution"):
        return "answer"
    if m.get("grade"):
        return "test"
    return "other"


def _next_code_cell(cells, i: int) -> int | None:
    """The index of the first code cell after i that has code (what runs next), or None."""
    return next((j for j in range(i + 1, len(cells))
                 if cells[j].cell_type == "code" and cells[j].source.strip()), None)


def _error(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


class _Kernel:
    """One kernel (in its sandbox): start, run code, interrupt, kill."""

    def __init__(self, argv: list[str], conndir: Path, limits: Limits, cwd: str | None,
                 uid: int | None, log):
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        self.limits, self.log = limits, log
        specdir = conndir.parent / "kernels" / "dlcv-sandbox"
        specdir.mkdir(parents=True, exist_ok=True)
        (specdir / "kernel.json").write_text(json.dumps(dict(
            argv=argv, display_name="DLCV sandbox", language="python", interrupt_mode="message")))
        for p in conndir.glob("*"):  # sockets of a previous kernel
            p.unlink()
        ksm = KernelSpecManager(kernel_dirs=[str(specdir.parent)], ensure_native_kernel=False)
        self.km = KernelManager(kernel_name="dlcv-sandbox", kernel_spec_manager=ksm,
                                transport="ipc", ip=str(conndir / "k"),
                                connection_file=str(conndir / "kernel.json"))
        self.km.write_connection_file()
        if uid is not None:
            os.chown(conndir / "kernel.json", uid, uid)
        self.stderr_path = conndir.parent / "kernel-stderr.txt"
        with open(self.stderr_path, "ab") as err:
            self.km.start_kernel(cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                 stdin=subprocess.DEVNULL)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=limits.startup_timeout)
        except RuntimeError as e:
            code = self.exit_code()
            self.shutdown()
            tail = self.stderr_path.read_text(errors="replace")[-2000:].strip()
            raise RuntimeError(
                f"the sandboxed kernel did not start (exit code {code}): {e}\n{tail}") from None

    def exit_code(self):
        try:
            return self.km.provisioner.process.poll() if self.km.provisioner else None
        except AttributeError:
            return None

    def alive(self) -> bool:
        return self.km.is_alive()

    def shutdown(self):
        try:
            self.kc.stop_channels()
        except Exception:  # noqa: BLE001 - shutting down: a dead kernel's channels may fail
            pass
        try:
            self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - shutting down: the kernel may be gone already
            pass
        try:
            self.km.cleanup_resources()
        except Exception:  # noqa: BLE001 - shutting down: nothing left to clean is fine
            pass


def _death_message(code, limits: Limits) -> tuple[str, str]:
    # bwrap returns the kernel's exit status; a signal shows as 128 + signum (or -signum).
    sig = -code if isinstance(code, int) and code < 0 else (code - 128 if isinstance(code, int)
                                                              and code > 128 else None)
    if sig == signal.SIGXCPU:
        return "CPUTimeLimit", f"CPU time limit of {limits.cpu} s exceeded: the kernel was stopped"
    if sig == signal.SIGXFSZ:
        return "FileSizeLimit", f"file size limit of {_size(limits.file_size)} exceeded"
    if sig is not None:
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return "KernelDied", f"the kernel died (segfault or os._exit): killed by {name}"
    return "KernelDied", f"the kernel died (segfault or os._exit): exit code {code}"


class _Runner:
    def __init__(self, nb, argv, conndir, limits: Limits, cwd, uid, log):
        self.nb, self.argv, self.conndir, self.limits = nb, argv, Path(conndir), limits
        self.cwd, self.uid, self.log = cwd, uid, log
        self.reply_status: str | None = None
        self.deadline = time.monotonic() + limits.wall_timeout
        self.incidents: list[dict] = []
        self.kernel: _Kernel | None = None
        self.restarts = 0
        self.requires: dict[str, list[str] | None] = {}  # test grade_id -> answers it needs (trusted)
        self.max_restarts = 3  # kernel restarts allowed (the hidden tests get a budget of their own)

    def start(self):
        self.kernel = _Kernel(self.argv, self.conndir, self.limits, self.cwd, self.uid, self.log)

    # ---- one cell ------------------------------------------------------------------------
    def execute(self, source: str, timeout: float, keep: bool = True, history: bool | None = None,
                wall: bool = True, max_output: int | None = None, only_mime: str | None = None):
        """Run code; returns (status, outputs, execution_count) with status one of
        ok, error, timeout, wall, dead, stuck. `self.reply_status` is what the kernel's
        execute_reply said ("ok", "error", or None when none came). `only_mime`: keep only the
        display outputs of that type (the grader's requests: what the code prints is dropped)."""
        k = self.kernel
        self.reply_status = None
        msg_id = k.kc.execute(source, store_history=keep if history is None else history,
                              allow_stdin=False, stop_on_error=False)
        deadline = min(time.monotonic() + timeout, self.deadline) if wall else time.monotonic() + timeout
        outputs: list = []
        max_output = self.limits.max_output if max_output is None else max_output
        size, cut, clear_pending, count, status = 0, False, False, None, "ok"
        interrupted_at = None
        while True:
            now = time.monotonic()
            limit = interrupted_at + self.limits.interrupt_grace if interrupted_at else deadline
            if now >= limit:
                if interrupted_at is None:
                    status = "wall" if wall and deadline >= self.deadline else "timeout"
                    interrupted_at = now
                    try:
                        k.km.interrupt_kernel()
                    except Exception:  # noqa: BLE001 - a kernel that cannot be interrupted is killed next
                        pass
                    continue
                return ("stuck" if status == "timeout" else status), outputs, count
            try:
                msg = k.kc.get_iopub_msg(timeout=min(0.5, max(limit - now, 0.01)))
            except Empty:
                if not k.alive():
                    return "dead", outputs, count
                continue
            except Exception:  # noqa: BLE001 - a message that cannot be read: the kernel is broken
                return "broken", outputs, count
            if not isinstance(msg, dict) or not isinstance(msg.get("content"), dict):
                return "broken", outputs, count
            if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                continue
            t, c = msg.get("msg_type"), msg["content"]
            if t == "status" and c.get("execution_state") == "idle":
                self.reply_status = self._reply(k, msg_id)
                return status, outputs, count
            if t == "execute_input":
                count = c.get("execution_count")
            elif t == "clear_output" and only_mime is None:
                if c.get("wait"):
                    clear_pending = True
                else:
                    outputs, size = [], 0
            elif t in ("stream", "display_data", "execute_result", "error"):
                if interrupted_at is not None and t == "error" and c.get("ename") == "KeyboardInterrupt":
                    continue  # our interrupt, reported as a timeout instead
                if t == "error" and status == "ok":
                    status = "error"
                if not keep:
                    continue
                if only_mime is not None and not (t == "display_data" and only_mime in c.get("data", {})):
                    if t == "error":
                        outputs.append(nbformat.v4.output_from_msg(msg))
                    continue
                if clear_pending:
                    outputs, size, clear_pending = [], 0, False
                out = nbformat.v4.output_from_msg(msg)
                if t == "stream" and out.name == "stderr":
                    # nbgrader gives 0 to a test cell with anything on stderr: a warning from
                    # the student's numpy (log of 0, a deprecation) must not cost a passing test
                    # its points. It is kept, as ordinary output, for the feedback.
                    out.name = "stdout"
                n = len(json.dumps(out, default=str))
                if size + n > max_output and t != "error":
                    if not cut:
                        cut = True
                        if t == "stream" and size < max_output:
                            out.text = out.text[: max_output - size]
                            outputs.append(out)
                        outputs.append(nbformat.v4.new_output(
                            "stream", name="stderr",
                            text=f"\n... output cut: a cell keeps at most "
                                 f"{_size(self.limits.max_output)} of output ...\n"))
                    continue
                size += n
                if (t == "stream" and outputs and outputs[-1].output_type == "stream"
                        and outputs[-1].name == out.name):
                    outputs[-1].text += out.text
                else:
                    outputs.append(out)

    @staticmethod
    def _reply(k, msg_id, timeout: float = 2.0) -> str | None:
        """The status of the execute_reply to msg_id (sent before the kernel goes idle)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                msg = k.kc.get_shell_msg(timeout=max(end - time.monotonic(), 0.01))
            except Empty:
                return None
            except Exception:  # noqa: BLE001 - unreadable: no reply
                return None
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg.get("content", {}).get("status")
        return None

    def limit_hit(self, status, outputs) -> tuple[str, str] | None:
        """(ename, message) when the cell hit a limit, else None."""
        lim = self.limits
        if status == "timeout" or status == "stuck":
            return "CellTimeoutError", f"cell timed out after {lim.cell_timeout:g} s"
        if status == "wall":
            return "WallClockLimit", ("the notebook was stopped after the wall-clock limit of "
                                      f"{lim.wall_timeout:g} s")
        if status == "dead":
            return _death_message(self.kernel.exit_code(), lim)
        if status == "broken":
            return "KernelDied", "the kernel's messages could not be read any more (its code broke them)"
        for o in outputs:
            if o.output_type != "error":
                continue
            if o.ename == "MemoryError":
                return "MemoryLimit", f"memory limit of {_size(lim.memory)} exceeded"
            if "[Errno 27]" in str(o.evalue) or o.ename == "OSError" and "File too large" in str(o.evalue):
                return "FileSizeLimit", f"file size limit of {_size(lim.file_size)} exceeded"
            if o.ename == "BlockingIOError" and "[Errno 11]" in str(o.evalue):
                return "ProcessLimit", f"process limit of {lim.nproc} exceeded"
        return None

    def restart(self, replay: list[int]) -> str | None:
        """A fresh kernel in the state the notebook had: None, or why that failed."""
        self.restarts += 1
        self.kernel.shutdown()
        if self.restarts > self.max_restarts:
            return f"the kernel died or hung more than {self.max_restarts} times"
        try:
            self.start()
        except RuntimeError as e:
            return str(e)
        for j in replay:
            st, outs, _ = self.execute(self.nb.cells[j].source, self.limits.cell_timeout, keep=False)
            if st not in ("ok", "error"):
                hit = self.limit_hit(st, outs)
                return f"could not restore the kernel's state: cell {j} {hit[1] if hit else st}"
        return None

    # ---- the notebook ----------------------------------------------------------------------
    def run(self, then=None) -> dict:
        """Run the notebook; then `then(self)` (the trusted hidden tests, with the kernel as the
        notebook left it) before the kernel is shut down."""
        cells = self.nb.cells
        answers_seen: list[str] = []
        self.stopped = stopped = {}  # answer grade_id -> why it was stopped
        self.replay = replay = []  # cells to run again after a restart
        self.not_run: dict[int, str] = {}  # test cells that did not run -> why
        halt: str | None = None
        self.start()  # no student code has run yet: a failure here is the sandbox's, raise it
        for i, cell in enumerate(cells):
            if cell.cell_type != "code":
                continue
            kind, gid = _kind(cell), nbgrader_meta(cell).get("grade_id")
            if halt:
                cell.outputs = [_error("NotRun", f"not run: {halt}")]
                cell.execution_count = None
                self.not_run[i] = halt
                continue
            if kind == "test":
                needs = self.requires.get(gid)  # from the source, never the submission
                blocked = [g for g in (needs or answers_seen) if g in stopped]
                if blocked:
                    why = f"it needs answer cell {blocked[0]!r}, which was stopped: {stopped[blocked[0]]}"
                    cell.outputs = [_error("NotRun", f"not run: {why}")]
                    cell.execution_count = None
                    self.not_run[i] = why
                    continue
            if kind == "answer" and gid:
                answers_seen.append(gid)
            if not cell.source.strip():
                cell.outputs = []
                continue
            status, outputs, count = self.execute(cell.source, self.limits.cell_timeout)
            hit = self.limit_hit(status, outputs)
            cell.outputs, cell.execution_count = outputs, count
            if hit is None:
                if kind != "test":
                    replay.append(i)
                continue
            ename, message = hit
            cell.outputs.append(_error(ename, message))
            self.incidents.append(dict(cell=i, grade_id=gid, kind=ename, message=message))
            if status == "wall":
                halt = f"the notebook was stopped in cell {i}: {message}"
                continue
            if kind == "answer" and gid:
                stopped[gid] = message
            elif kind != "test":
                halt = f"the notebook was stopped in cell {i}: {message}"
                continue
            if status in ("dead", "stuck", "broken") or ename in RESTART_AFTER:
                why = self.restart(replay)
                if why:
                    halt = f"the notebook was stopped after cell {i}: {why}"
                    self.incidents.append(dict(cell=i, grade_id=gid, kind="KernelDied", message=why))
        self.halt = halt
        report = dict(incidents=self.incidents, restarts=self.restarts, stopped=bool(halt))
        if then is not None:
            report.update(then(self) or {})
        if self.kernel is not None:
            self.kernel.shutdown()
        return report


def run_notebook(nb: NotebookNode, argv: list[str], conndir: Path, limits: Limits,
                 cwd: str | None = None, uid: int | None = None, log=None,
                 requires: dict | None = None, then=None) -> dict:
    """Run every code cell of nb in place; returns the report (incidents, restarts, stopped, and
    what `then` adds). `requires`: test grade_id -> the answer cells it needs, from the source
    (trusted); `then(runner)` runs before the kernel is shut down (the hidden tests)."""
    r = _Runner(nb, argv, conndir, limits, cwd, uid, log or logging.getLogger(__name__))
    r.requires = dict(requires or {})
    return r.run(then)
