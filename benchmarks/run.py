"""`make bench`: speed figures of the course, written to benchmarks/results/bench.md.

1. Every notebook (lectures and the solution edition of each assignment) executed top to bottom
   in a fresh kernel, timed; the course's budget is 90 s per notebook on 2 CPU cores.
   The accuracy lines the assignments print (test / validation accuracy of the reference
   solutions) are collected into a second table.
2. a1's reference kNN distances (taken from the assignment's source notebook, so the figure is
   that of the code students are compared against): two loops, one loop and no loops on a
   500 x 5000 problem (CS231n's) of the digits' dimension (D = 64) and of CIFAR-10's (D = 3072),
   and on a1's own digits split.

3. a3's reference convolutions (naive and im2col) against torch.nn.functional.conv2d on a
   (64, 3, 32, 32) batch with 32 3x3 filters, forward and backward, float32 and float64.

Figures are measured, never asserted: tests check behaviour, this table reports speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")

from dlcv.timing import time_call  # noqa: E402

BUDGET_S = 90.0


QUALITY_MARKERS = ("test accuracy", "validation accuracy")


def quality_lines(nb) -> list[str]:
    """The lines a notebook prints about its accuracy (the reference solutions' figures)."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                out += [ln.strip() for ln in o["text"].splitlines()
                        if any(m in ln.lower() for m in QUALITY_MARKERS)]
    return out


def time_notebooks(paths: list[Path]) -> list[tuple[str, float, str, list[str]]]:
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(p.parent)}})
        t0 = time.perf_counter()
        try:
            client.execute()
            status = "ok"
        except Exception as e:  # noqa: BLE001 - report, keep measuring the others
            status = f"error: {type(e).__name__}"
        rows.append((str(p.relative_to(REPO)), time.perf_counter() - t0, status, quality_lines(nb)))
        print(f"  {rows[-1][0]}: {rows[-1][1]:.1f} s ({status})", flush=True)
    return rows


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-notebooks", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench.md")
    args = ap.parse_args(argv)

    lines = [f"# DLCV benchmarks, {dt.datetime.now():%Y-%m-%d %H:%M}",
             "", f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, numpy {np.__version__}.", ""]
    if not args.skip_notebooks:
        print("notebooks:")
        paths = sorted((REPO / "lectures").glob("*.ipynb")) + sorted(
            (REPO / "assignments").glob("*/*.ipynb"))
        rows = time_notebooks(paths)
        lines += ["## Notebook execution (fresh kernel, top to bottom)", "",
                  f"| notebook | seconds | within {BUDGET_S:.0f} s | status |", "|---|---:|:---:|---|"]
        lines += [f"| {n} | {t:.1f} | {'yes' if t < BUDGET_S else '**no**'} | {s} |"
                  for n, t, s, _ in rows]
        lines += ["", "## Accuracy printed by the notebooks (reference solutions, default data)", ""]
        lines += [f"- {n}: {q}" for n, _, _, qs in rows if n.startswith("assignments") for q in qs]
        lines += [""]
    print("kNN distances (a1 reference solution):")
    lines += ["## kNN distances, a1 reference solution (no loops: best of 3; loops: 1 run)", "",
              "| problem | two loops (s) | one loop (s) | no loops (s) | speed-up two/no loops |",
              "|---|---:|---:|---:|---:|"]
    for label, (m, n, d) in [("500 x 5000, D=64 (the digits' dimension)", (500, 5000, 64)),
                             ("500 x 5000, D=3072 (CIFAR-10's dimension)", (500, 5000, 3072)),
                             ("360 x 1257, D=64 (a1 on digits: test x train)", (360, 1257, 64))]:
        t = dict(time_knn(m, n, d))
        two, one, no = (t[f"compute_distances_{k}"] for k in ("two_loops", "one_loop", "no_loops"))
        lines.append(f"| {label} | {two:.2f} | {one:.2f} | {no:.3f} | {two / no:.0f}x |")
    print("convolution (a3 reference solution) against torch:")
    lines += ["", "## Convolution, a3 reference solution: (64, 3, 32, 32) input, 32 filters 3x3, pad 1",
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
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print("\n" + text + f"\nwritten to {args.out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
