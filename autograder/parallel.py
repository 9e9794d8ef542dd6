"""Autograding in parallel: sandboxed executions in worker processes (or on a Dask cluster), every
gradebook write in the one main process.

nbgrader's autograde does, for each student: sanitize (clear outputs, restore locked cells and
tests from the gradebook) -> execute -> save the grades. Only the execution is expensive, and
only the gradebook must never be written by two processes at once (SQLite: "database is
locked"). `python -m autograder grade A --workers N` (or `--scheduler ADDRESS`) therefore runs:

1. prepare, in the main process, one student after the other (fast): nbgrader's own Autograde
   converter, its sanitize half only (`_SanitizeOnly`), writing the sanitized submission to a
   scratch folder. The job sent to a worker is data, not paths: the files of that folder (bytes)
   and the SandboxedExecute settings, so a worker on another machine needs neither the course
   nor the gradebook (it needs the same venv, `dlcv` and bubblewrap).
2. execute, in N worker processes (concurrent.futures) or on Dask workers: `execute_job` runs
   each notebook through the configured SandboxedExecute, exactly as the sequential pipeline
   does, and returns the executed notebooks with their sandbox reports.
3. record, in the main process, as results arrive: nbgrader's full autograde of that student,
   with SandboxedExecute replaced by `PrecomputedExecute`, which hands over the executed
   notebook when its input is the very notebook that was executed (same canonical JSON), and
   otherwise executes it itself. Everything else (grades, late penalties, missing notebooks,
   the gradebook, SQLite or PostgreSQL) is nbgrader's, unchanged.

The prepare and record steps cost a fraction of a second per student; they overlap with the
executions still running in the workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import hashlib
import itertools
import json
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path

import nbformat
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter

from autograder.sandbox import SandboxedExecute

# ------------------------------------------------------------------------------------------
# the worker side: pure data in, pure data out
# ------------------------------------------------------------------------------------------
_slots_lock = threading.Lock()
_slots_busy: set[int] = set()


def _take_slot() -> int:
    """The lowest slot no running job of this process holds: jobs running side by side in one
    process (a Dask worker's threads) share a pid, and the sandbox's uid comes from the pid, so
    each shifts its uid by 10000 * slot (slot 0: the uid of a sequential run)."""
    with _slots_lock:
        slot = next(i for i in itertools.count() if i not in _slots_busy)
        _slots_busy.add(slot)
        return slot


def digest(nb) -> str:
    """A fingerprint of a notebook's canonical JSON (the same before and after a round trip)."""
    node = nbformat.from_dict(json.loads(json.dumps(nb, default=str)))
    return hashlib.sha256(nbformat.writes(node).encode()).hexdigest()


def execute_job(job: dict) -> dict:
    """Run one student's notebooks in the sandbox (see _execute_job), in a thread of its own:
    the kernel client must not meet an event loop its host runs in this thread (a Dask worker's
    thread, a notebook)."""
    box: list[dict] = []
    t = threading.Thread(target=lambda: box.append(_execute_job(job)), name=f"dlcv-{job['student']}")
    t.start()
    t.join()
    return box[0]


class WorkerError(RuntimeError):
    """The sandboxed execution of a submission failed in a worker (the sandbox, not the student)."""


def _execute_job(job: dict) -> dict:
    """Run one student's notebooks in the sandbox. `job`: student, assignment, notebooks (names
    in order), files ({relative path: bytes}: the sanitized submission folder), settings (the
    SandboxedExecute config). Returns student, results ({notebook: {input, nb, sidecars}}),
    seconds, error (None, or why this submission could not be executed)."""
    from traitlets.config import Config

    start = time.monotonic()
    out = dict(student=job["student"], results={}, seconds=0.0, error=None)
    settings = dict(job["settings"])
    slot = _take_slot()
    settings["uid_base"] = int(settings.get("uid_base", 200000)) + 10000 * slot
    try:
        with tempfile.TemporaryDirectory(prefix="dlcv-job-") as tmp:
            folder = Path(tmp) / job["assignment"]
            for rel, data in job["files"].items():
                p = (folder / rel).resolve()
                if not p.is_relative_to(folder.resolve()):
                    continue
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
            executor = SandboxedExecute(config=Config({"SandboxedExecute": settings}))
            for name in job["notebooks"]:
                path = folder / f"{name}.ipynb"
                nb = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
                before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}
                resources = {"metadata": {"path": str(folder), "name": name},
                             "nbgrader": {"student": job["student"], "assignment": job["assignment"],
                                          "notebook": name},
                             "dlcv_spec": job.get("spec")}
                key = digest(nb)
                nb, _ = executor.preprocess(nb, resources)
                nbformat.write(nb, str(path))  # later notebooks see it, as under nbgrader
                # the reports the sandbox wrote next to the notebook (<name>.sandbox.json ...)
                sidecars = {p.name: p.read_text(errors="replace") for p in folder.iterdir()
                            if p.is_file() and p.name.startswith(name + ".") and p.suffix == ".json"
                            and before.get(p.name) != p.stat().st_mtime_ns}
                out["results"][name] = dict(input=key, nb=nbformat.writes(nb), sidecars=sidecars)
    except Exception as e:  # noqa: BLE001 - reported to the main process, which records it
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
    finally:
        with _slots_lock:
            _slots_busy.discard(slot)
    out["seconds"] = round(time.monotonic() - start, 3)
    return out


# ------------------------------------------------------------------------------------------
# the main process: prepare and record
# ------------------------------------------------------------------------------------------
_PRECOMPUTED: dict[tuple[str, str], dict] = {}


class PrecomputedExecute(SandboxedExecute):
    """SandboxedExecute that hands over a notebook a worker has executed already.

    Used only in the main process of a parallel run, in place of SandboxedExecute. The worker's
    result is used when its input was this very notebook (same digest); otherwise (a submission
    changed between the two steps) the notebook runs here, sandboxed as usual."""

    fallbacks = 0  # notebooks executed here rather than by a worker (expected: none)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader") or {}
        entry = _PRECOMPUTED.pop((info.get("student"), info.get("notebook")), None)
        if entry is not None and entry.get("error"):
            raise WorkerError(entry["error"])
        if entry is None or entry["input"] != digest(nb):
            self.log.warning("%s/%s: no matching parallel result, executing it here",
                             info.get("student"), info.get("notebook"))
            PrecomputedExecute.fallbacks += 1
            return super().preprocess(nb, resources)
        path = Path((resources.get("metadata") or {}).get("path") or ".")
        for fname, text in entry["sidecars"].items():
            (path / Path(fname).name).write_text(text)
        return nbformat.reads(entry["nb"], as_version=nbformat.NO_CONVERT), resources


class _SanitizeOnly(Autograde):
    """nbgrader's Autograde without its execute-and-grade half: the sanitized submission."""

    def convert_single_notebook(self, notebook_filename: str) -> None:
        self._sanitizing = True
        self._init_preprocessors()
        BaseConverter.convert_single_notebook(self, notebook_filename)


def _replace_execute(config, by):
    """A copy of config whose Autograde.autograde_preprocessors has SandboxedExecute -> by."""
    cfg = copy.deepcopy(config)
    pps = list(cfg.Autograde.autograde_preprocessors)
    if not any(isinstance(p, type) and issubclass(p, SandboxedExecute) for p in pps):
        from autograder.errors import UsageError

        raise UsageError("parallel grading needs SandboxedExecute in Autograde.autograde_preprocessors")
    cfg.Autograde.autograde_preprocessors = [
        by if isinstance(p, type) and issubclass(p, SandboxedExecute) else p for p in pps]
    return cfg


def _settings(config) -> dict:
    """The SandboxedExecute settings as plain data (what a worker needs to build its own)."""
    sx = config.get("SandboxedExecute", {})
    ref = SandboxedExecute(config=config)
    return {name: copy.deepcopy(sx[name]) if name in sx else getattr(ref, name)
            for name in ref.trait_names() if ref.trait_metadata(name, "config")}


def prepare(course, a: str, student: str, scratch: Path, settings: dict, spec: dict | None = None
            ) -> dict | str:
    """The job of one student (sanitized in scratch/<student>/A), or why it could not be made.
    `spec`: the assignment's hidden tests and source notebook (autograder.hidden.Spec) as data,
    so that a worker needs no course folder."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    cd = CourseDirectory(config=course.config)
    cd.assignment_id, cd.student_id = a, student
    cd.autograded_directory = str(scratch)
    app = _SanitizeOnly(coursedir=cd, config=course.config)
    app.force, app.create_student = True, True
    res = capture_log(app)
    folder = scratch / student / a
    if not res.get("success") or not folder.is_dir():
        return (res.get("error") or res.get("log") or "could not sanitize").strip()
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    notebooks = sorted(p.stem for p in folder.glob("*.ipynb"))
    shutil.rmtree(folder)
    return dict(student=student, assignment=a, notebooks=notebooks, files=files, settings=settings,
                spec=spec)


def record(course, a: str, student: str, config) -> dict:
    """nbgrader's autograde of one student, with the executions taken from _PRECOMPUTED."""
    from nbgrader.utils import capture_log, temp_attrs

    with temp_attrs(course.coursedir, assignment_id=a, student_id=student):
        app = Autograde(coursedir=course.coursedir, config=config)
        app.force, app.create_student = True, True
        try:
            return capture_log(app)
        except Exception as e:  # noqa: BLE001 - one bad submission never stops the batch
            return {"success": False, "error": f"{type(e).__name__}: {e}"}


def _executor(workers: int, scheduler: str | None):
    """(executor, closer): local worker processes, or a Dask cluster's workers."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover
            from autograder.errors import UsageError

            raise UsageError("--scheduler needs dask.distributed: pip install -r requirements.txt") from None
        client = Client(scheduler, timeout=30, set_as_default=False)
        return client.get_executor(pure=False), client.close
    import multiprocessing as mp

    # forkserver: workers start from a clean process, not a fork of one holding gradebook
    # connections and progress-bar threads.
    ctx = mp.get_context("forkserver")
    ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    return ex, lambda: ex.shutdown(wait=True, cancel_futures=True)


def autograde_parallel(course, a: str, students: list[str], workers: int = 2,
                       scheduler: str | None = None, progress=None):
    """Grade `students`; yields (student, nbgrader-style result dict, execution seconds) as each
    one is recorded in the gradebook (in the order the executions finish)."""
    import dataclasses

    from autograder.hidden import Spec

    record_config = _replace_execute(course.config, PrecomputedExecute)
    settings = _settings(course.config)
    found = Spec.find(course.root, a)
    spec = dataclasses.asdict(found) if found is not None else None
    executor, close = _executor(workers, scheduler)
    scratch = Path(tempfile.mkdtemp(prefix="dlcv-prepare-"))
    futures: dict = {}
    bar = progress(total=len(students)) if progress else None
    try:
        unprepared = []
        for student in students:
            job = prepare(course, a, student, scratch, settings, spec)
            if isinstance(job, str):  # nbgrader could not sanitize it: record says why
                unprepared.append(student)
                continue
            futures[executor.submit(execute_job, job)] = student
        for student in unprepared:
            yield student, record(course, a, student, record_config), 0.0
            if bar:
                bar.update()
        for fut in cf.as_completed(futures):
            student = futures[fut]
            try:
                out = fut.result()
            except Exception as e:  # noqa: BLE001 - a worker that died: the student is recorded
                out = dict(student=student, results={}, seconds=0.0,
                           error=f"the worker executing it failed: {type(e).__name__}: {e}")
            if out["error"]:
                for name in _notebooks(course, a, student):
                    _PRECOMPUTED[(student, name)] = dict(error=out["error"])
            for name, r in out["results"].items():
                _PRECOMPUTED[(student, name)] = r
            res = record(course, a, student, record_config)
            for key in [k for k in _PRECOMPUTED if k[0] == student]:
                _PRECOMPUTED.pop(key)
            yield student, res, out["seconds"]
            if bar:
                bar.update()
    finally:
        close()
        if bar:
            bar.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _notebooks(course, a: str, student: str) -> list[str]:
    return sorted(p.stem for p in course.dir("submitted", student, a).glob("*.ipynb"))
