"""`make bench`: speed figures of the course, written to benchmarks/results/bench.md.

1. Every notebook (lectures and the solution edition of each assignment) executed top to bottom
   in a fresh kernel, timed; the course's budget is 90 s per notebook on 2 CPU cores. Each is
   run a second time right away while two busy background processes keep the cores busy
   (benchmarks/load.py): the loaded / idle ratio shows that the notebook caps its threads
   (dlcv.timing.cap_threads; goal at most 2x, 1.5x being the floor on 2 cores). `--busy 0`
   skips the loaded runs; `--notebook a3` picks notebooks.
   The accuracy lines the assignments print (test / validation accuracy of the reference
   solutions) are collected into a second table, with the figures an assignment leaves in
   named variables (BENCH_FIGURES: a4's detector mAP and training time, a5's BLEU-4 scores and
   training times, a6's transformer BLEU-4, training time and probe margin, a7's share of confident
   samples and training time), read by one extra cell appended after the notebook's own.
2. a1's reference kNN distances (taken from the assignment's source notebook, so the figure is
   that of the code students are compared against): two loops, one loop and no loops on a
   500 x 5000 problem (CS231n's) of the digits' dimension (D = 64) and of CIFAR-10's (D = 3072),
   and on a1's own digits split.

3. a3's reference convolutions (naive and im2col) against torch.nn.functional.conv2d on a
   (64, 3, 32, 32) batch with 32 3x3 filters, forward and backward, float32 and float64.

4. Autograding a1: 60 submissions (`--grade-n`; fewer for a quick run), a mix of correct,
   partial, blank and adversarial ones (an infinite loop, with a per-cell timeout of 20 s for the
   bench, os._exit, a memory bomb, numpy.allclose replaced), graded in the sandbox by
   `python -m autograder`'s own functions, sequentially and with 2 workers: the total times,
   the speed-up, that every submission ended graded or with a recorded reason and earned the
   score it should. The overhead per submission beyond the notebook's own run: a1's source
   notebook (reference answers and visible tests: what a correct submission is) run
   unsandboxed by nbclient, then one correct submission graded (its notebook in the sandbox,
   then its hidden tests in the grader, which the overhead includes), alternately
   (`--grade-pairs` times), so that both see the same load on a shared machine; in wall-clock
   and in CPU time (which other work on the machine hardly changes). The section takes about
   35 minutes (37 min measured on 2 cores shared with other work: 60 submissions graded once
   with 1 worker, 21 min, and once with 2, 12 min, plus the pairs); `--grade-n 10` for a quick
   run.

Figures are measured, never asserted: tests check behaviour, this table reports speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # load.py
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")

from dlcv.timing import thread_env, time_call  # noqa: E402 - after sys.path holds the repository

BUDGET_S = 90.0
LOADED_GOAL = 2.0  # loaded / idle time of a notebook (the goal; 1.5x is the floor on 2 cores)


QUALITY_MARKERS = ("test accuracy", "validation accuracy")
# Top-level variables an assignment's reference solution leaves behind, reported when present.
BENCH_FIGURES = {
    "test_map50": ("detector mAP@0.5 on held-out shapes scenes", "{:.3f}"),
    "train_seconds": ("detector training time", "{:.1f} s"),
    "bleu4_lstm": ("LSTM captioner BLEU-4 on held-out scenes", "{:.3f}"),
    "bleu4_rnn": ("RNN captioner BLEU-4 on held-out scenes", "{:.3f}"),
    "bleu4_baseline": ("language-only baseline BLEU-4 (the LSTM with its image features zeroed)",
                       "{:.3f}"),
    "caption_train_seconds": ("LSTM captioner training time", "{:.1f} s"),
    "rnn_train_seconds": ("RNN captioner training time", "{:.1f} s"),
    "bleu4_lstm_beam": ("LSTM captioner BLEU-4, beam search (k = 3)", "{:.3f}"),
    "bleu4_transformer": ("a6 transformer captioner BLEU-4 on held-out scenes", "{:.3f}"),
    "captioner_train_seconds": ("a6 transformer captioner training time", "{:.1f} s"),
    "ssl_few_margin": ("a6 SimCLR features minus pixels: probe accuracy with 5 labels per digit", "{:+.3f}"),
    "samples_confident": ("a7 denoiser: share of 500 samples the reference classifier is sure of",
                          "{:.3f}"),
    "denoiser_train_seconds": ("a7 denoiser training time", "{:.1f} s"),
}
FIGURES_CELL = (
    "import json as _bench_json\n"
    f"print('BENCH-FIGURES ' + _bench_json.dumps({{_k: float(globals()[_k]) for _k in "
    f"{tuple(BENCH_FIGURES)!r} if _k in globals()}}))"
)


def quality_lines(nb) -> list[str]:
    """The lines a notebook prints about its accuracy (the reference solutions' figures), and
    the BENCH_FIGURES the appended cell found."""
    import json

    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                for ln in o["text"].splitlines():
                    if ln.startswith("BENCH-FIGURES "):
                        for k, v in json.loads(ln.split(" ", 1)[1]).items():
                            label, fmt = BENCH_FIGURES[k]
                            out.append(f"{label}: {fmt.format(v)}")
                    elif any(m in ln.lower() for m in QUALITY_MARKERS):
                        out.append(ln.strip())
    return out


def run_notebook(p: Path) -> tuple[float, str, object]:
    """Execute notebook p top to bottom in a fresh kernel (the machine's environment: the
    notebook caps its own threads); (seconds, status, the executed notebook)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(p, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(FIGURES_CELL))
    client = NotebookClient(nb, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(p.parent)}})
    t0 = time.perf_counter()
    try:
        client.execute()
        status = "ok"
    except Exception as e:  # noqa: BLE001 - report, keep measuring the others
        status = f"error: {type(e).__name__}"
    return time.perf_counter() - t0, status, nb


def time_notebooks(paths: list[Path], busy_procs: int = 2) -> list[dict]:
    """Each notebook run twice, one run right after the other: on the machine as it is, then
    while `busy_procs` background processes keep the cores busy (benchmarks/load.py); busy_procs
    = 0 skips the loaded runs."""
    from load import busy

    rows = []
    for p in paths:
        seconds, status, nb = run_notebook(p)
        row = {"name": str(p.relative_to(REPO)), "seconds": seconds, "status": status,
               "quality": quality_lines(nb), "loaded": None}
        msg = f"  {row['name']}: {seconds:.1f} s ({status})"
        if busy_procs:
            with busy(busy_procs):
                loaded, lstatus, _ = run_notebook(p)
            row["loaded"], row["loaded_status"] = loaded, lstatus
            msg += f"; with {busy_procs} busy processes {loaded:.1f} s ({lstatus}), {loaded / seconds:.2f}x"
        rows.append(row)
        print(msg, flush=True)
    return rows


def notebook_lines(rows: list[dict], busy_procs: int) -> list[str]:
    lines = ["## Notebook execution (fresh kernel, top to bottom)", ""]
    if busy_procs:
        lines += [f"Each notebook twice, one run right after the other: as the machine is, then with "
                  f"{busy_procs} busy background processes (benchmarks/load.py: Python loops, one core "
                  f"each). Goal: loaded / idle at most {LOADED_GOAL:g}x; with {busy_procs} busy "
                  f"processes on {os.cpu_count()} cores a single-threaded notebook gets at best "
                  f"{os.cpu_count()}/{busy_procs + 1} of a core, so "
                  f"{(busy_procs + 1) / max(1, min(os.cpu_count() or 1, busy_procs + 1)):.1f}x is the "
                  "floor.", "",
                  f"| notebook | seconds | within {BUDGET_S:.0f} s | loaded (s) | loaded / idle | "
                  f"within {LOADED_GOAL:g}x | status |", "|---|---:|:---:|---:|---:|:---:|---|"]
        for r in rows:
            ratio = r["loaded"] / r["seconds"]
            status = r["status"] if r["loaded_status"] == r["status"] else \
                f"{r['status']} / {r['loaded_status']}"
            within = "yes" if r["seconds"] < BUDGET_S else "**no**"
            lines.append(f"| {r['name']} | {r['seconds']:.1f} | {within} | {r['loaded']:.1f} | "
                         f"{ratio:.2f}x | {'yes' if ratio <= LOADED_GOAL else '**no**'} | {status} |")
        ratios = sorted(r["loaded"] / r["seconds"] for r in rows)
        lines += ["", f"Loaded / idle over {len(rows)} notebooks: median {ratios[len(ratios) // 2]:.2f}x, "
                  f"largest {ratios[-1]:.2f}x."]
    else:
        lines += [f"| notebook | seconds | within {BUDGET_S:.0f} s | status |", "|---|---:|:---:|---|"]
        lines += [f"| {r['name']} | {r['seconds']:.1f} | {'yes' if r['seconds'] < BUDGET_S else '**no**'} "
                  f"| {r['status']} |" for r in rows]
    quality = [f"- {r['name']}: {q}" for r in rows if r["name"].startswith("assignments")
               for q in r["quality"]]
    if quality:
        lines += ["", "## Accuracy printed by the notebooks (reference solutions, default data)", "",
                  *quality]
    return lines + [""]


def reference_functions(notebook: Path, prefix: str) -> dict:
    """The reference solution's functions whose names start with prefix, from a source notebook."""
    from autograder.notebooks import answer_cells, read

    ns: dict = {"np": np}
    for cell in answer_cells(read(notebook)).values():
        if f"def {prefix}" in cell.source:
            exec(compile(cell.source, str(notebook), "exec"), ns)  # noqa: S102 - our own notebook
    return {k: v for k, v in ns.items() if k.startswith(prefix)}


def time_knn(num_test: int, num_train: int, dim: int, seed: int = 0) -> list[tuple[str, float]]:
    fns = reference_functions(REPO / "assignments/a1_knn_linear/a1_knn_linear.ipynb",
                              "compute_distances_")
    rng = np.random.default_rng(seed)
    X_test, X_train = rng.random((num_test, dim)), rng.random((num_train, dim))
    out = []
    for name in ("compute_distances_two_loops", "compute_distances_one_loop",
                 "compute_distances_no_loops"):
        repeat = 3 if "no_loops" in name else 1  # the loops take seconds: one run each
        out.append((name, time_call(fns[name], X_test, X_train, repeats=repeat)[0]))
        print(f"  {name} {num_test}x{num_train}, D={dim}: {out[-1][1]:.3f} s", flush=True)
    return out


def time_conv(dtype=np.float64, n: int = 64, n_naive: int = 2, seed: int = 0) -> dict[str, float]:
    """a3's reference convolutions against torch's conv2d: (n, 3, 32, 32), 32 filters 3x3, pad 1.

    Forward and backward times in seconds; the naive layer runs on n_naive images and its time is
    scaled to n (it is linear in the number of images)."""
    import torch
    import torch.nn.functional as F

    nb = REPO / "assignments/a3_cnn/a3_cnn.ipynb"
    fns = {**reference_functions(nb, "conv_forward_"), **reference_functions(nb, "conv_backward_")}
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3, 32, 32)).astype(dtype)
    w, b = rng.normal(size=(32, 3, 3, 3)).astype(dtype), rng.normal(size=32).astype(dtype)
    cp = {"stride": 1, "pad": 1}
    t = {}
    t["naive_fwd"], (out, cache) = time_call(fns["conv_forward_naive"], x[:n_naive], w, b, cp)
    t["naive_bwd"], _ = time_call(fns["conv_backward_naive"], np.ones_like(out), cache)
    t["naive_fwd"] *= n / n_naive
    t["naive_bwd"] *= n / n_naive
    t["fast_fwd"], (out, cache) = time_call(fns["conv_forward_fast"], x, w, b, cp, repeats=5)
    t["fast_bwd"], _ = time_call(fns["conv_backward_fast"], np.ones_like(out), cache, repeats=5)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t["torch_fwd"], out_t = time_call(lambda: F.conv2d(xt, wt, bt, padding=1), repeats=5)
    t["torch_bwd"], _ = time_call(lambda: torch.autograd.grad(out_t, (xt, wt, bt), torch.ones_like(out_t),
                                                              retain_graph=True), repeats=5)
    print(f"  conv {np.dtype(dtype).name}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in t.items()),
          flush=True)
    return t


GRADE_A = "a1_knn_linear"
# One period of the bench's mix (20 submissions); 60 submissions repeat it three times.
GRADE_MIX = (["correct"] * 10 + ["partial"] * 4 + ["blank"] * 2
             + ["infinite_loop", "os_exit", "memory_bomb", "patched_numpy"])
GRADE_ATTACKS = {"infinite_loop": "\nwhile True:\n    pass",
                 "os_exit": "\nimport os\nos._exit(1)",
                 "memory_bomb": "\nhog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))",
                 # harmless now: the hidden tests compare in the grader, not with the kernel's numpy
                 "patched_numpy": "\nimport numpy as np\nnp.allclose = lambda *a, **k: True"}
# The environment the sandbox gives a kernel (one BLAS thread): the notebook's own run gets it too.
KERNEL_THREADS = thread_env(1)


def grading_course(root: Path, n: int):
    """A scratch course with a1's source and n collected submissions; returns the course, the
    kind of each student's submission and the score it should earn."""
    import shutil

    import nbformat

    from autograder import cli
    from autograder import notebooks as nbs

    src = root / "assignments" / GRADE_A
    shutil.copytree(REPO / "assignments" / GRADE_A, src)  # the notebook and its hidden tests
    course = grading_config(root)
    cli.release(course, GRADE_A)
    release = nbs.read(root / "release" / GRADE_A / f"{GRADE_A}.ipynb")
    source = nbs.read(src / f"{GRADE_A}.ipynb")
    answers = list(nbs.answer_cells(source))
    incoming = root / "incoming"
    incoming.mkdir()
    kinds, expected = {}, {}
    for i in range(n):
        kind = GRADE_MIX[i % len(GRADE_MIX)]
        if kind == "blank":
            nb, solved = release, set()
        elif kind == "partial":  # the first half of the answers (i varies which half is right)
            solved = set(answers[: len(answers) // 2 + i % 3])
            nb = nbs.with_solutions(release, source, solved)
        else:
            nb, solved = nbs.with_solutions(release, source), set(answers)
            if kind in GRADE_ATTACKS:  # after the first answer's right code: "defined, then stuck"
                first = next(c for c in nb.cells
                             if c.metadata.get("nbgrader", {}).get("grade_id") == answers[0])
                first.source += GRADE_ATTACKS[kind]
                # the first answer is stopped (its tests earn nothing); a patched numpy changes nothing
                solved = set(answers) if kind == "patched_numpy" else set(answers[1:])
        sid = f"s{i:03d}_{kind}"
        nbformat.write(nb, incoming / f"{sid}.ipynb")
        kinds[sid] = kind
        expected[sid] = nbs.expected_points(source, solved)
    cli.collect(course, GRADE_A, incoming)
    return course, kinds, expected


def grading_config(root: Path):
    from autograder.course import Course, load_config

    os.environ["DLCV_COURSE_ROOT"] = str(root)
    os.environ.pop("DLCV_GRADEBOOK", None)
    config = load_config()
    config.SandboxedExecute.timeout = 20  # per cell: a1's slowest cell takes a few seconds
    return Course(config)


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants now, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
            stats[int(d)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    tree, total = {pid}, 0.0
    for _ in range(8):  # a few generations: bwrap, its pid 1, setpriv/prlimit (exec), python
        tree |= {p for p, (ppid, _) in stats.items() if ppid in tree}
    for p in tree:
        total += stats.get(p, (0, 0.0))[1]
    return total


class KernelCPU:
    """CPU seconds of the sandboxed kernels (the process tree under bwrap), read just before
    each one is shut down: a killed sandbox's kernel is never reaped by the grader, so its CPU
    time does not show in the grader's own resource usage."""

    def __init__(self):
        from autograder import sandbox_run

        self.seconds, self._cls = 0.0, sandbox_run._Kernel
        self._orig = self._cls.shutdown
        box = self

        def shutdown(kernel):
            try:
                box.seconds += _tree_cpu(kernel.km.provisioner.process.pid)
            except Exception:  # noqa: BLE001 - a figure for the bench, never a failure
                pass
            return box._orig(kernel)

        self._cls.shutdown = shutdown

    def close(self):
        self._cls.shutdown = self._orig


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended and were waited for."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def own_run(source: Path, tmp: str) -> float:
    """Seconds of the correct a1 notebook's own run: unsandboxed, nbclient, a fresh kernel with
    the sandbox's thread settings, no grading: the source notebook (the reference answers and the
    visible tests), which is what a correct submission is. Its hidden tests are not part of it:
    they run in the grader, and are counted in the overhead."""
    import nbformat
    from nbclient import NotebookClient

    from autograder import notebooks as nbs

    client = NotebookClient(nbformat.from_dict(nbs.read(source)), timeout=600, kernel_name="python3",
                            allow_errors=True, resources={"metadata": {"path": tmp}})
    t0 = time.perf_counter()
    client.execute(env={**os.environ, **KERNEL_THREADS})
    return time.perf_counter() - t0


def time_grading(n: int, pairs: int = 4) -> dict:
    """Grade n a1 submissions sequentially and with 2 workers (each in its own copy of the
    course). Before that, the overhead: `pairs` times, the correct notebook's own run
    (own_run) then the grading of one correct submission (`cli.autograde`, sandboxed, recorded
    in the gradebook), one right after the other so that both see the same load."""
    import csv
    import shutil
    import tempfile
    import warnings

    from sqlalchemy.exc import SAWarning

    from autograder import cli

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader 0.9.6 on SQLAlchemy 2: harmless
    out: dict = {"n": n, "start": time.perf_counter(), "load": [os.getloadavg()[0]]}
    with tempfile.TemporaryDirectory(prefix="dlcv-bench-grade-") as tmp:
        base = Path(tmp) / "base"
        course, kinds, expected = grading_course(base, n)
        out["kinds"] = {k: sum(v == k for v in kinds.values()) for k in dict.fromkeys(GRADE_MIX)}
        source = base / "assignments" / GRADE_A / f"{GRADE_A}.ipynb"
        root = Path(tmp) / "pairs"
        shutil.copytree(base, root)
        course = grading_config(root)
        correct = [s for s, k in kinds.items() if k == "correct"]
        own, graded, elapsed, own_cpu, graded_cpu, hidden = [], [], [], [], [], []
        kernels = KernelCPU()
        try:
            for i in range(pairs):
                c0 = _cpu()  # the own run's kernel is a child of this process: it is counted
                own.append(own_run(source, tmp))
                own_cpu.append(_cpu() - c0)
                c0, k0, t0 = _cpu(), kernels.seconds, time.perf_counter()
                cli.autograde(course, GRADE_A, [correct[i % len(correct)]])
                graded.append(time.perf_counter() - t0)
                graded_cpu.append(_cpu() - c0 + kernels.seconds - k0)
                with open(root / "exports" / GRADE_A / "autograde_log.csv", newline="") as f:
                    elapsed.append(float(next(csv.DictReader(f))["seconds"]))
                rep = json.loads(next((root / "autograded" / correct[i % len(correct)] / GRADE_A)
                                      .glob("*.sandbox.json")).read_text())
                hidden.append(float(rep.get("hidden_seconds", 0.0)))
                print(f"  pair {i + 1}: own run {own[-1]:.1f} s ({own_cpu[-1]:.1f} s CPU), graded "
                      f"{graded[-1]:.1f} s ({graded_cpu[-1]:.1f} s CPU; sandboxed run {elapsed[-1]:.1f} s)",
                      flush=True)
        finally:
            kernels.close()
        out["pairs"] = dict(own=own, graded=graded, elapsed=elapsed, own_cpu=own_cpu, graded_cpu=graded_cpu,
                            hidden=hidden)
        for workers in (1, 2):
            root = Path(tmp) / f"w{workers}"
            shutil.copytree(base, root)
            course = grading_config(root)
            out["load"].append(os.getloadavg()[0])
            t0 = time.perf_counter()
            status = cli.autograde(course, GRADE_A, workers=workers)
            wall = time.perf_counter() - t0
            with open(root / "exports" / GRADE_A / "autograde_log.csv", newline="") as f:
                log = {r["student_id"]: r for r in csv.DictReader(f)}
            scores = {r["student_id"]: r["score"] for r in cli.scores(course, GRADE_A)}
            secs = {s: float(r["seconds"]) for s, r in log.items()}
            out[workers] = dict(
                wall=wall, exec_total=sum(secs.values()),
                graded=sum(st == "graded" for st in status.values()),
                recorded=sum(bool(log.get(s, {}).get("status")) for s in kinds),
                as_expected=sum(abs(scores.get(s, -1) - expected[s]) < 1e-9 for s in kinds),
                wrong=sorted(s for s in kinds if abs(scores.get(s, -1) - expected[s]) >= 1e-9),
                scores=scores, limits=sum(bool(r["notes"]) for r in log.values()))
            print(f"  {workers} worker(s): {wall:.1f} s for {n} submissions, "
                  f"{out[workers]['graded']} graded, {out[workers]['as_expected']} scored as expected",
                  flush=True)
        out["load"].append(os.getloadavg()[0])
        out["same_scores"] = out[1]["scores"] == out[2]["scores"]
    out["seconds"] = time.perf_counter() - out.pop("start")
    return out


def grading_lines(g: dict) -> list[str]:
    n, s1, s2, p = g["n"], g[1], g[2], g["pairs"]
    k = len(p["own"])
    own, graded, elapsed, own_cpu, graded_cpu, hidden = (
        sum(p[x]) / k for x in ("own", "graded", "elapsed", "own_cpu", "graded_cpu", "hidden"))
    overhead = graded - own  # per submission, beyond the notebook's own run
    diffs = sorted(g - o for g, o in zip(p["graded"], p["own"], strict=True))
    bookkeeping = (s1["wall"] - s1["exec_total"]) / n  # nbgrader, gradebook, log, per submission
    speedup = s1["wall"] / s2["wall"]
    mix = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in g["kinds"].items() if v)
    return [
        f"## Autograding {GRADE_A}: {n} submissions in the sandbox", "",
        f"Mix: {mix} (the attacks come right after the first answer's code; `patched numpy` "
        "replaces numpy.allclose, which changes nothing now). Per-cell timeout 20 s for the bench "
        "(the course's: 180 s). "
        f"Load average (1 min) of the machine during the runs: "
        f"{', '.join(f'{x:.1f}' for x in g['load'])} on {os.cpu_count()} cores. "
        f"This section took {g['seconds'] / 60:.0f} min.", "",
        "| figure | value | goal |", "|---|---:|---:|",
        f"| total, 1 worker ({n} submissions) | {s1['wall']:.0f} s | |",
        f"| total, 2 workers ({n} submissions) | {s2['wall']:.0f} s | |",
        f"| speed-up, 2 workers over 1 | {speedup:.2f}x | >= 1.7x |",
        f"| a1 reference with its visible tests, own run (unsandboxed nbclient, fresh kernel, one "
        f"BLAS thread; mean of {k}) | {own:.1f} s | |",
        f"| the same notebook graded: `autograde` of one correct submission (mean of {k}, each run "
        f"right after an own run) | {graded:.1f} s | |",
        f"| of which the sandboxed run (kernel start in bubblewrap, cells, the hidden tests) "
        f"| {elapsed:.1f} s | |",
        f"| of which the hidden tests in the grader (inputs out, plain data back, compared there) "
        f"| {hidden:.2f} s | |",
        f"| **overhead per submission beyond the notebook's own run** (graded - own; the {k} "
        f"differences: {', '.join(f'{d:+.1f}' for d in diffs)} s) | **{overhead:.2f} s** | <= 1.5 s |",
        f"| the same in CPU time (grader + sandboxed kernel, minus nbclient + its kernel: "
        f"{graded_cpu:.1f} - {own_cpu:.1f} s; little affected by other load on the machine) "
        f"| {graded_cpu - own_cpu:.2f} s | |",
        f"| bookkeeping per submission in the {n}-submission run (nbgrader, gradebook, log: "
        f"total - sandboxed runs) | {bookkeeping:.2f} s | |",
        f"| graded or recorded with a reason, 1 worker / 2 workers | {s1['recorded']} / {s2['recorded']} "
        f"of {n} | all |",
        f"| scored as expected (the reference's points for what is right), 1 / 2 workers "
        f"| {s1['as_expected']} / {s2['as_expected']} of {n} | all |",
        f"| submissions that hit a limit (the log's notes) | {s1['limits']} / "
        f"{s2['limits']} | |",
        f"| same scores with 2 workers as with 1 | {'yes' if g['same_scores'] else '**no**'} | yes |",
        *(["", f"Not scored as expected: {', '.join(s1['wrong'] + s2['wrong'])}."]
          if s1["wrong"] or s2["wrong"] else []),
        ""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-notebooks", action="store_true")
    ap.add_argument("--only", action="append", choices=["notebooks", "knn", "conv", "grading"],
                    help="run only these sections (repeatable); default: all")
    ap.add_argument("--grade-n", type=int, default=60, metavar="N",
                    help="submissions of a1 to autograde, once with 1 worker and once with 2 "
                         "(default 60: the section takes about 35 min on 2 cores; fewer for a quick run)")
    ap.add_argument("--grade-pairs", type=int, default=4, metavar="K",
                    help="own run / graded run pairs that measure the overhead (default 4)")
    ap.add_argument("--busy", type=int, default=2, metavar="N",
                    help="busy background processes for each notebook's second run (default 2; 0: "
                         "run each notebook once)")
    ap.add_argument("--notebook", action="append", metavar="TEXT",
                    help="only the notebooks whose file name contains TEXT (repeatable)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench.md")
    args = ap.parse_args(argv)

    lines = [f"# DLCV benchmarks, {dt.datetime.now():%Y-%m-%d %H:%M}",
             "", f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, numpy {np.__version__}.", ""]
    only = set(args.only or ["notebooks", "knn", "conv", "grading"])
    if args.skip_notebooks:
        only.discard("notebooks")
    if "notebooks" in only:
        print("notebooks:")
        paths = sorted((REPO / "lectures").glob("*.ipynb")) + sorted(
            (REPO / "assignments").glob("*/*.ipynb"))
        if args.notebook:
            paths = [p for p in paths if any(k in p.name for k in args.notebook)]
        rows = time_notebooks(paths, args.busy)
        lines += notebook_lines(rows, args.busy)
    if "knn" in only:
        lines += knn_lines()
    if "conv" in only:
        lines += conv_lines()
    if "grading" in only:
        print(f"autograding {GRADE_A}, {args.grade_n} submissions, sequentially and with 2 workers:")
        from autograder.sandbox import SandboxError, check_bwrap

        try:
            check_bwrap()
            lines += grading_lines(time_grading(args.grade_n, args.grade_pairs))
        except SandboxError as e:
            lines += [f"## Autograding {GRADE_A}", "", f"Not measured: {e}", ""]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print("\n" + text + f"\nwritten to {args.out}")
    return 0


def knn_lines() -> list[str]:
    print("kNN distances (a1 reference solution):")
    lines = ["## kNN distances, a1 reference solution (no loops: best of 3; loops: 1 run)", "",
              "| problem | two loops (s) | one loop (s) | no loops (s) | speed-up two/no loops |",
              "|---|---:|---:|---:|---:|"]
    for label, (m, n, d) in [("500 x 5000, D=64 (the digits' dimension)", (500, 5000, 64)),
                             ("500 x 5000, D=3072 (CIFAR-10's dimension)", (500, 5000, 3072)),
                             ("360 x 1257, D=64 (a1 on digits: test x train)", (360, 1257, 64))]:
        t = dict(time_knn(m, n, d))
        two, one, no = (t[f"compute_distances_{k}"] for k in ("two_loops", "one_loop", "no_loops"))
        lines.append(f"| {label} | {two:.2f} | {one:.2f} | {no:.3f} | {two / no:.0f}x |")
    return lines + [""]


def conv_lines() -> list[str]:
    print("convolution (a3 reference solution) against torch:")
    lines = ["## Convolution, a3 reference solution: (64, 3, 32, 32) input, 32 filters 3x3, pad 1",
              "", "Times in ms (fastest of 5; the naive layer: 2 images, scaled to 64). Ratios: how many "
              "times slower than torch (fast) or faster than naive.", "",
              "| dtype | pass | naive | fast (im2col) | torch conv2d | fast / torch | naive / fast |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for dtype in (np.float32, np.float64):
        t = time_conv(dtype)
        for p in ("fwd", "bwd"):
            lines.append(f"| {np.dtype(dtype).name} | {'forward' if p == 'fwd' else 'backward'} | "
                         f"{t['naive_' + p] * 1e3:.0f} | {t['fast_' + p] * 1e3:.1f} | "
                         f"{t['torch_' + p] * 1e3:.1f} | {t['fast_' + p] / t['torch_' + p]:.1f}x | "
                         f"{t['naive_' + p] / t['fast_' + p]:.0f}x |")
    return lines + [""]


if __name__ == "__main__":
    sys.exit(main())
