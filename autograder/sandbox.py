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
from traitlets import Bool, Float, Integer, List, Unicode, default

from autograder import rules
from autograder.notebooks import nbgrader_meta
from autograder.sandbox_run import Limits, course_limits, run_notebook
from dlcv.timing import thread_env

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


GRADING_MOUNT = "/opt/dlcv-grading"  # autograder/inside, as the package dlcv_inside
DIGITS_MOUNT = "/opt/dlcv-data/digits.csv.gz"  # scikit-learn's digits file, when sklearn is blocked


def site_packages() -> list[str]:
    """The venv's site-packages folders (where the packages a policy blocks live)."""
    import site

    return [p for p in site.getsitepackages() if os.path.isdir(p) and p.startswith(sys.prefix)]


def policy_binds(policy, scratch: Path) -> tuple[list[tuple[str, str]], list[str], dict]:
    """What an import policy (autograder.hidden.HiddenTests: blocked packages, allowed dlcv
    modules) changes in the sandbox: (binds (host, sandbox path), tmpfs paths, env)."""
    binds: list[tuple[str, str]] = []
    tmpfs: list[str] = []
    env: dict = {}
    if policy is None:
        return binds, tmpfs, env
    base_site = [p for p in __import__("site").getsitepackages() if p.startswith(sys.base_prefix)]
    if os.path.realpath(sys.base_prefix) != os.path.realpath(sys.prefix):
        tmpfs += [p for p in base_site if os.path.isdir(p)]  # the venv never needs them
    for name in policy.blocked:
        for sp in site_packages():
            if os.path.isdir(os.path.join(sp, name)):
                binds.append((str(rules.stub_package(scratch / "stubs", name)), os.path.join(sp, name)))
    digits = rules.digits_csv()
    if "sklearn" in policy.blocked and digits is not None:
        binds.append((str(digits), DIGITS_MOUNT))
        env["DLCV_DIGITS_CSV"] = DIGITS_MOUNT
    if policy.dlcv is not None:
        binds.append((str(rules.filtered_dlcv(scratch, policy.dlcv)), str(rules.dlcv_folder())))
    return binds, tmpfs, env


def bwrap_command(bwrap: str, workdir: Path, conndir: Path, etcdir: Path, uid: int,
                  extra_ro: list[str] = (), grading: Path | None = None, policy=None,
                  tmp_size: int = Limits.tmp_size) -> list[str]:
    """The bwrap prefix that runs a command as `uid` in a fresh sandbox (see the module doc).
    `grading`: a folder holding dlcv_inside, shown at GRADING_MOUNT; `policy`: what may be
    imported (policy_binds); `tmp_size`: bytes each writable place (/tmp, /var/tmp, the home
    folder) may hold. The submission's own files are shown read-only in the home folder."""
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
            "--proc", "/proc", "--dev", "/dev"]
    for place in ("/tmp", "/var/tmp", SANDBOX_HOME):
        cmd += ["--perms", "1777", "--size", str(int(tmp_size)), "--tmpfs", place]
    mounted = {"/usr", "/etc"}  # host folders: what lies below them exists already
    made = {*mounted, "/tmp", "/var", "/var/tmp", "/home", SANDBOX_HOME}  # empty folders made above
    binds = [(p, "ro") for p in [*python_paths(), *extra_ro]]
    d = data_dir()
    if d:
        binds.append((d, "ro"))
    binds += [(str(conndir), "rw")]
    extra_binds, tmpfs, policy_env = policy_binds(policy, conndir.parent / "policy")
    extra_binds += [(str(p), f"{SANDBOX_HOME}/{p.name}") for p in sorted(Path(workdir).iterdir())]
    if grading is not None:
        extra_binds.append((str(grading), GRADING_MOUNT))
    for src, mode in [*binds, *[(s_, "@" + d_) for s_, d_ in extra_binds]]:
        if mode.startswith("@"):  # over a folder already shown: no parents to make
            if not any(mode[1:] == m or mode[1:].startswith(m + "/") for m in mounted):
                for a in _ancestors(mode[1:]):
                    if a not in made and not any(a.startswith(m + "/") for m in mounted):
                        cmd += ["--perms", "0755", "--dir", a]
                        made.add(a)
            cmd += ["--ro-bind", src, mode[1:]]
            continue
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
    for t in tmpfs:
        cmd += ["--tmpfs", t]
    env = {"HOME": SANDBOX_HOME, "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
           "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin", "TMPDIR": "/tmp",
           "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "NBGRADER_EXECUTION": "autograde",
           # one BLAS/torch thread per kernel: graders run submissions side by side
           "DLCV_THREADS": "1", **thread_env(1),
           # joblib (under sklearn) runs serially without warning: the sandbox has no /dev/shm
           "JOBLIB_MULTIPROCESSING": "0",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "JUPYTER_PLATFORM_DIRS": "1"}
    if d:
        env["DLCV_DATA"] = d
    env.update(policy_env)
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
    # Every limit defaults to autograder.sandbox_run.course_limits(): written once, there.
    timeout = Integer(help="Per-cell time limit in seconds").tag(config=True)
    wall_timeout = Integer(help="Wall-clock limit for the whole notebook, seconds").tag(config=True)
    memory_limit = Integer(help="Address-space limit of the kernel, bytes").tag(config=True)
    cpu_limit = Integer(0, help="CPU-time limit of a kernel, seconds (0: the wall-clock limit)"
                        ).tag(config=True)
    file_size_limit = Integer(help="Largest file the kernel may write, bytes").tag(config=True)
    nproc_limit = Integer(help="Processes and threads of the sandbox's user").tag(config=True)
    max_output = Integer(help="Output kept per cell, bytes (the rest is cut)").tag(config=True)
    startup_timeout = Float(help="Seconds to wait for the kernel to start").tag(config=True)
    interrupt_grace = Float(help="Seconds an interrupted cell gets to stop before the kernel "
                                 "is killed and restarted").tag(config=True)
    uid_base = Integer(200000, help="The sandbox user is uid_base + pid % 10000").tag(config=True)
    extra_ro_binds = List(Unicode(), help="More host folders the kernel may read").tag(config=True)
    tmp_size = Integer(help="Bytes each writable place of the sandbox (/tmp, /var/tmp, "
                            "the home folder) may hold").tag(config=True)

    @default("timeout")
    def _timeout(self):
        return int(course_limits().cell_timeout)

    @default("wall_timeout")
    def _wall_timeout(self):
        return int(course_limits().wall_timeout)

    @default("memory_limit")
    def _memory_limit(self):
        return course_limits().memory

    @default("file_size_limit")
    def _file_size_limit(self):
        return course_limits().file_size

    @default("nproc_limit")
    def _nproc_limit(self):
        return course_limits().nproc

    @default("max_output")
    def _max_output(self):
        return course_limits().max_output

    @default("startup_timeout")
    def _startup_timeout(self):
        return course_limits().startup_timeout

    @default("interrupt_grace")
    def _interrupt_grace(self):
        return course_limits().interrupt_grace

    @default("tmp_size")
    def _tmp_size(self):
        return course_limits().tmp_size

    def limits(self) -> Limits:
        return Limits(cell_timeout=self.timeout, wall_timeout=self.wall_timeout,
                      memory=self.memory_limit, cpu=self.cpu_limit or self.wall_timeout,
                      file_size=self.file_size_limit, nproc=self.nproc_limit,
                      max_output=self.max_output, startup_timeout=self.startup_timeout,
                      interrupt_grace=self.interrupt_grace)

    def spec(self, resources: dict):
        """The assignment's hidden tests (autograder.hidden.Spec), or None (tests in the notebook):
        handed over by a parallel job, or found in the course (CourseDirectory.root)."""
        from autograder.hidden import Spec

        given = resources.get("dlcv_spec")
        if given:
            return Spec(**given)
        info = resources.get("nbgrader") or {}
        if not info.get("assignment"):
            return None
        from nbgrader.coursedir import CourseDirectory

        root = CourseDirectory(config=self.config).root
        return Spec.find(Path(root), info["assignment"], info.get("notebook"))

    def _kernel(self, tmp: Path, home: Path | None, policy) -> dict:
        """Folders and the command line of one sandboxed kernel under `tmp`: `home` (a copy of
        the submission's folder, or empty) at /home/student; `policy`: what it may import."""
        workdir, conndir, etcdir = tmp / "home", tmp / "c", tmp / "etc"
        if home is not None:
            shutil.copytree(home, workdir, symlinks=False, ignore=shutil.ignore_patterns(
                "*.sandbox.json", ".ipynb_checkpoints"))
        else:
            workdir.mkdir(parents=True)
        conndir.mkdir()
        etcdir.mkdir()
        grading = tmp / "grading"
        shutil.copytree(Path(__file__).parent / "inside", grading / "dlcv_inside",
                        ignore=shutil.ignore_patterns("__pycache__"))
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
            prefix = bwrap_command(self.bwrap, workdir, conndir, etcdir, uid,
                                   list(self.extra_ro_binds), grading=grading, policy=policy,
                                   tmp_size=self.tmp_size)
            for p in [tmp, etcdir, *etcdir.iterdir(), grading, *grading.rglob("*"),
                      *(tmp / "policy").rglob("*"), *([tmp / "policy"] if (tmp / "policy").exists() else [])]:
                p.chmod(0o755 if p.is_dir() else 0o644)
            cwd, inside = None, GRADING_MOUNT
        else:
            uid, prefix, cwd, inside = None, [], str(workdir), str(grading)
        argv = [*prefix, *limits_command(self.limits()), sys.executable, "-m", "ipykernel_launcher",
                "-f", "{connection_file}", "--HistoryManager.hist_file=:memory:"]
        return dict(argv=argv, conndir=conndir, cwd=cwd, uid=uid, inside=inside)

    def preprocess(self, nb: NotebookNode, resources: dict):
        path = Path((resources.get("metadata") or {}).get("path") or ".")
        name = (resources.get("metadata") or {}).get("name") or "notebook"
        limits = self.limits()
        spec = self.spec(resources)
        if spec is None and (resources.get("nbgrader") or {}).get("assignment"):
            from autograder.hidden import HIDDEN_TESTS_FILE

            raise SandboxError(f"no {HIDDEN_TESTS_FILE} for this assignment: its grades must be decided "
                               "by hidden tests in the grader (autograder/hidden.py)")
        tests = spec.load() if spec is not None else None  # None: a plain run (no grading)
        if not self.sandbox:
            self.log.warning("SANDBOX OFF: %s runs unsandboxed (SandboxedExecute.sandbox = False)",
                             path / f"{name}.ipynb")
        verdicts: dict = {}
        with tempfile.TemporaryDirectory(prefix="dlcv-sb-") as tmp:
            Path(tmp).chmod(0o755)  # the sandbox's user reaches its connection files below
            k = self._kernel(Path(tmp) / "notebook", path, tests)
            then = requires = None
            if spec is not None:
                from autograder.grading import grade_kernel

                requires = {g: c["requires"] for g, c in spec.test_cells().items()}

                def then(runner):
                    found, part = grade_kernel(runner, spec, k["inside"], isolated=False, log=self.log)
                    verdicts.update(found)
                    return part
            start = time.monotonic()
            report = run_notebook(nb, k["argv"], k["conndir"], limits, cwd=k["cwd"], uid=k["uid"],
                                  log=self.log,
                                  requires=requires, then=then)
            if tests is not None and tests.isolated is not None:
                report["isolated"] = self._run_isolated(nb, spec, tests, Path(tmp) / "isolated", verdicts)
            report["elapsed"] = round(time.monotonic() - start, 3)
            report["sandbox"] = bool(self.sandbox)
        if spec is not None:
            from autograder.grading import apply_verdicts

            apply_verdicts(nb, verdicts)
            report["verdicts"] = {g: v.to_json() for g, v in verdicts.items()}
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


    def _run_isolated(self, nb, spec, tests, tmp: Path, verdicts: dict) -> dict:
        """The isolated part: a fresh kernel with the stricter policy runs only the part's cells
        of the submission (after the preamble); then the tests marked isolated run against it."""
        import nbformat

        from autograder.grading import grade_kernel

        iso = tests.isolated
        cells = [nbformat.v4.new_code_cell(iso.preamble, metadata={"nbgrader": {
            "grade_id": "isolated_preamble", "locked": True, "solution": False, "grade": False}})]
        for c in nb.cells:
            gid = nbgrader_meta(c).get("grade_id")
            if c.cell_type == "code" and gid in iso.cells:
                cells.append(nbformat.v4.new_code_cell(c.source, metadata=dict(c.metadata)))
        part = nbformat.v4.new_notebook(cells=cells, metadata=dict(nb.metadata))
        tmp.mkdir(parents=True)
        k = self._kernel(tmp, None, iso)
        found: dict = {}

        def then(runner):
            errors = {}
            for c in runner.nb.cells:
                gid = nbgrader_meta(c).get("grade_id")
                err = next((o for o in c.get("outputs", []) if o.output_type == "error"), None)
                if err is not None:
                    errors[gid] = f"{err.ename}: {err.evalue}"
            f, rep = grade_kernel(runner, spec, k["inside"], isolated=True, log=self.log,
                                  cell_errors=errors)
            found.update(f)
            return dict(rep, cell_errors=errors)

        report = run_notebook(part, k["argv"], k["conndir"], self.limits(), cwd=k["cwd"], uid=k["uid"],
                              log=self.log, then=then)
        verdicts.update(found)
        return report


def read_reports(folder: Path) -> list[dict]:
    """The sandbox reports written next to the autograded notebooks of one submission."""
    out = []
    for p in sorted(Path(folder).glob(f"*{REPORT_SUFFIX}")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            pass
    return out
