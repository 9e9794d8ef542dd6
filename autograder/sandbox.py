"""Sandboxed execution of submissions: the bubblewrap command and nbgrader's preprocessor.

nbgrader's own `Execute` runs student code with the grader's rights. `SandboxedExecute` takes
its place in `Autograde.autograde_preprocessors` (autograder/nbgrader_config.py). For every
notebook it starts a Jupyter kernel inside bubblewrap (`bwrap`):

- new mount namespace whose root is an empty tmpfs: only /usr (and the /bin, /lib... links),
  /etc, the Python installation, the venv and the `dlcv` package (read-only) and the course's
  public data folder are visible; never the course (source notebooks, hidden tests, release/,
  submitted/, autograded/, the gradebook) nor another student's work;
- the submission's own copy (a fresh temporary folder) read-write at /home/student, a private
  /tmp, a new /proc and a minimal /dev;
- new network (loopback only), PID, IPC, UTS and cgroup namespaces, a new session (no TIOCSTI),
  and the kernel dies with the grader (--die-with-parent);
- an unprivileged user (uid `uid_base + pid % 10000` by default, no capabilities, no new
  privileges): one uid per concurrent sandbox, so the process limit of one (a fork bomb) never
  starves another;
- resource limits (`prlimit`): address space, CPU time, file size, number of processes.

The client that drives the kernel stays outside the sandbox (autograder/sandbox_run.py) and
talks to it over Unix sockets (Jupyter's "ipc" transport) in a folder shared with the sandbox:
the student's code cannot reach the client, forge its results or touch the grader's files,
which an in-sandbox client running as the same user could (ptrace, kill, rewrite its output).

If bwrap cannot run, grading fails loudly; only `SandboxedExecute.sandbox = False` (an
instructor's explicit choice, e.g. a developer machine without bubblewrap) runs the kernel
unsandboxed, with the same limits and the same rules for timeouts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, List, Unicode

from autograder.sandbox_run import Limits, run_notebook

SANDBOX_HOME = "/home/student"
REPORT_SUFFIX = ".sandbox.json"  # <notebook>.sandbox.json next to the autograded notebook


class SandboxError(RuntimeError):
    """The sandbox cannot run (bwrap missing or not permitted): grading must stop."""


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def python_paths() -> list[str]:
    """What the kernel's Python needs, read-only: the venv, the base installation (both as
    given and resolved: the venv's python is a symlink into it) and the `dlcv` package."""
    paths = [sys.prefix, os.path.realpath(sys.prefix), sys.base_prefix, os.path.realpath(sys.base_prefix)]
    spec = importlib.util.find_spec("dlcv")
    if spec and spec.submodule_search_locations:
        paths.append(os.path.realpath(list(spec.submodule_search_locations)[0]))
    out: list[str] = []
    for p in paths:  # drop duplicates and paths inside others, keep the order
        if p and os.path.isdir(p) and p not in out:
            out.append(p)
    return [p for p in out if not any(p != q and p.startswith(q + "/") for q in out)]


def data_dir() -> str | None:
    """The course's public data folder (dlcv.data.DATA_DIR), shown read-only if it exists."""
    spec = importlib.util.find_spec("dlcv")
    if not (spec and spec.submodule_search_locations):
        return None
    default = Path(list(spec.submodule_search_locations)[0]).resolve().parent / "data"
    d = Path(os.environ.get("DLCV_DATA") or default)
    return str(d.resolve()) if d.is_dir() else None


def bwrap_command(bwrap: str, workdir: Path, conndir: Path, etcdir: Path, uid: int,
                  extra_ro: list[str] = ()) -> list[str]:
    """The bwrap prefix that runs a command as `uid` in a fresh sandbox (see the module doc)."""
    cmd = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session",
           "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(link):
            cmd += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            cmd += ["--ro-bind", link, link]
    cmd += ["--ro-bind", "/etc", "/etc",
            "--ro-bind", str(etcdir / "passwd"), "/etc/passwd",
            "--ro-bind", str(etcdir / "group"), "/etc/group",
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
            "--perms", "1777", "--tmpfs", "/var/tmp"]
    mounted = {"/usr", "/etc"}  # host folders: what lies below them exists already
    made = set(mounted)
    binds = [(p, "ro") for p in [*python_paths(), *extra_ro]]
    d = data_dir()
    if d:
        binds.append((d, "ro"))
    binds += [(str(conndir), "rw"), (str(workdir), SANDBOX_HOME)]
    for src, mode in binds:
        dest = mode if mode.startswith("/") else src
        # bwrap makes missing parents with the host folder's mode (/root is 0700): 0755 here,
        # or the unprivileged user could not reach e.g. /root/.pyenv.
        for a in _ancestors(dest):
            if a not in made and not any(a.startswith(m + "/") for m in mounted):
                cmd += ["--perms", "0755", "--dir", a]
                made.add(a)
        cmd += ["--ro-bind" if mode == "ro" else "--bind", src, dest]
        made.add(dest)
        mounted.add(dest)
    env = {"HOME": SANDBOX_HOME, "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
           "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin", "TMPDIR": "/tmp",
           "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NBGRADER_EXECUTION": "autograde",
           # joblib (under sklearn) runs serially without warning: the sandbox has no /dev/shm
           "JOBLIB_MULTIPROCESSING": "0",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "JUPYTER_PLATFORM_DIRS": "1"}
    if d:
        env["DLCV_DATA"] = d
    cmd += ["--clearenv"]
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", SANDBOX_HOME, "--",
            "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd


def limits_command(limits: Limits) -> list[str]:
    """prlimit in front of the kernel: the limits hold for it and every process it starts."""
    cmd = ["prlimit", "--core=0"]
    if limits.memory:
        cmd.append(f"--as={limits.memory}")
    if limits.cpu:
        cmd.append(f"--cpu={limits.cpu}:{limits.cpu + 5}")
    if limits.file_size:
        cmd.append(f"--fsize={limits.file_size}")
    if limits.nproc:
        cmd.append(f"--nproc={limits.nproc}")
    return cmd + ["--"]


_BWRAP_OK: set[str] = set()  # bwrap executables that started a sandbox in this process


def check_bwrap(bwrap: str = "bwrap") -> None:
    """Raise SandboxError with a clear message unless bwrap can start a sandbox here (checked
    once per process and executable: a later failure shows when the kernel does not start)."""
    exe = shutil.which(bwrap)
    if exe in _BWRAP_OK:
        return
    if not exe:
        raise SandboxError(
            f"bubblewrap ({bwrap}) is not installed: run `make setup-sandbox` (apt-get install "
            "bubblewrap). To grade WITHOUT a sandbox on a trusted machine, set "
            "c.SandboxedExecute.sandbox = False in autograder/nbgrader_config.py.")
    r = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid",
                        "--die-with-parent", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SandboxError(f"bubblewrap cannot create a sandbox here: {r.stderr.strip()} "
                           "(it needs root or unprivileged user namespaces)")
    _BWRAP_OK.add(exe)


class SandboxedExecute(NbGraderPreprocessor):
    """Execute the notebook in a bubblewrap sandbox, with limits (replaces nbgrader's Execute)."""

    sandbox = Bool(True, help="Run the kernel in bubblewrap. False runs it unsandboxed (with the "
                              "same limits): only for a trusted developer machine.").tag(config=True)
    bwrap = Unicode("bwrap", help="The bubblewrap executable").tag(config=True)
    timeout = Integer(180, help="Per-cell time limit in seconds").tag(config=True)
    wall_timeout = Integer(1800, help="Wall-clock limit for the whole notebook, seconds").tag(config=True)
    memory_limit = Integer(4 * 2**30, help="Address-space limit of the kernel, bytes").tag(config=True)
    cpu_limit = Integer(0, help="CPU-time limit of a kernel, seconds (0: the wall-clock limit)"
                        ).tag(config=True)
    file_size_limit = Integer(64 * 2**20, help="Largest file the kernel may write, bytes").tag(config=True)
    nproc_limit = Integer(256, help="Processes and threads of the sandbox's user").tag(config=True)
    max_output = Integer(2**20, help="Output kept per cell, bytes (the rest is cut)").tag(config=True)
    startup_timeout = Float(60, help="Seconds to wait for the kernel to start").tag(config=True)
    interrupt_grace = Float(5, help="Seconds an interrupted cell gets to stop before the kernel "
                                    "is killed and restarted").tag(config=True)
    uid_base = Integer(200000, help="The sandbox user is uid_base + pid % 10000").tag(config=True)
    extra_ro_binds = List(Unicode(), help="More host folders the kernel may read").tag(config=True)
    integrity = Bool(True, help="Probe the kernel for tampering with what the tests rely on "
                                "(autograder/integrity.py)").tag(config=True)

    def limits(self) -> Limits:
        return Limits(cell_timeout=self.timeout, wall_timeout=self.wall_timeout,
                      memory=self.memory_limit, cpu=self.cpu_limit or self.wall_timeout,
                      file_size=self.file_size_limit, nproc=self.nproc_limit,
                      max_output=self.max_output, startup_timeout=self.startup_timeout,
                      interrupt_grace=self.interrupt_grace)

    def preprocess(self, nb: NotebookNode, resources: dict):
        path = Path((resources.get("metadata") or {}).get("path") or ".")
        name = (resources.get("metadata") or {}).get("name") or "notebook"
        limits = self.limits()
        with tempfile.TemporaryDirectory(prefix="dlcv-sb-") as tmp:
            tmp = Path(tmp)
            workdir, conndir, etcdir = tmp / "home", tmp / "c", tmp / "etc"
            # The submission's own folder (its notebook and the assignment's files), copied.
            shutil.copytree(path, workdir, symlinks=False, ignore=shutil.ignore_patterns(
                "*.sandbox.json", ".ipynb_checkpoints"))
            conndir.mkdir()
            etcdir.mkdir()
            if self.sandbox:
                check_bwrap(self.bwrap)
                uid = self.uid_base + os.getpid() % 10000
                (etcdir / "passwd").write_text(
                    f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                    f"student:x:{uid}:{uid}:student:{SANDBOX_HOME}:/usr/sbin/nologin\n"
                    f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
                (etcdir / "group").write_text(f"root:x:0:\nstudent:x:{uid}:\nnogroup:x:65534:\n")
                for p in [workdir, conndir, *workdir.rglob("*")]:
                    os.chown(p, uid, uid, follow_symlinks=False)
                for p in [tmp, etcdir, *etcdir.iterdir()]:
                    p.chmod(0o755)
                prefix = bwrap_command(self.bwrap, workdir, conndir, etcdir, uid, list(self.extra_ro_binds))
                cwd = None
            else:
                self.log.warning("SANDBOX OFF: %s runs unsandboxed (SandboxedExecute.sandbox = False)",
                                 path / f"{name}.ipynb")
                uid, prefix, cwd = None, [], str(workdir)
            argv = [*prefix, *limits_command(limits), sys.executable, "-m", "ipykernel_launcher",
                    "-f", "{connection_file}", "--HistoryManager.hist_file=:memory:"]
            start = time.monotonic()
            report = run_notebook(nb, argv, conndir, limits, cwd=cwd, uid=uid, log=self.log,
                                  integrity=self.integrity)
            report["elapsed"] = round(time.monotonic() - start, 3)
            report["sandbox"] = bool(self.sandbox)
        # What the sanitize step found (autograder/integrity.py: IntegrityCheck): to the log too.
        from autograder.integrity import META_KEY

        found = list(nb.metadata.pop(META_KEY, []) or [])
        report.setdefault("integrity", {})["structure"] = found
        report["incidents"] = [dict(cell=f["cell"] if f["cell"] is not None else f["grade_id"],
                                    grade_id=f["grade_id"], kind=f["kind"], message=f["message"])
                               for f in found] + report["incidents"]
        (path / f"{name}{REPORT_SUFFIX}").write_text(json.dumps(report, indent=1))
        for inc in report["incidents"]:
            self.log.warning("%s: cell %s: %s", name, inc["cell"], inc["message"])
        return nb, resources


def read_reports(folder: Path) -> list[dict]:
    """The sandbox reports written next to the autograded notebooks of one submission."""
    out = []
    for p in sorted(Path(folder).glob(f"*{REPORT_SUFFIX}")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            pass
    return out
