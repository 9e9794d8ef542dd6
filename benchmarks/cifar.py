"""`make bench-cifar`: the course on CIFAR-10, against CS231n's figures.

Needs CIFAR-10 in its official python format in data/cifar-10-batches-py/ (`bash
data/get_cifar10.sh`) or in $DLCV_DATA/cifar-10-batches-py/; without it, it says how to get it
and stops.

- Lectures 01 and 02 (the lectures that use CIFAR-10 when it is there) are executed top to
  bottom in a fresh kernel, timed.
- a1, a2 and a3 go through the real grading path in a scratch course: release, collect two
  submissions (the reference solution and the untouched student edition), autograde each in the
  sandbox with the hidden tests, then read the scores from the gradebook. The time is that of
  grading the reference solution (its notebook in the sandbox, then its hidden tests).

The figures are the accuracy lines the notebooks print (read from the executed or autograded
notebook), each beside CS231n's figure for the same exercise and this course's goal. The table
goes to stdout and to benchmarks/results/bench-cifar.md. A run takes about half an hour on two
cores. `--only a1` picks notebooks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # run.py
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")

NOTEBOOK_GOAL_S = 600.0  # each notebook within 10 minutes with CIFAR-10 (90 s on the default data)


@dataclass(frozen=True)
class Figure:
    notebook: str  # lecture path or assignment id
    label: str
    pattern: str  # a regex whose group 1 is the figure, matched against the printed lines
    cs231n: str  # CS231n's figure for the same exercise (its assignments' stated results)
    goal: float | None = None  # this course's goal on CIFAR-10 (issue 21), if it has one


FIGURES = [
    Figure("lectures/01_image_classification.ipynb", "1-NN (L2), test",
           r"1-NN \(L2\) test accuracy: ([0-9.]+)", "about 0.27"),
    Figure("lectures/01_image_classification.ipynb", "kNN (k, distance by 5-fold CV), test",
           r"-NN with L\d distance: test accuracy ([0-9.]+)", "about 0.28"),
    Figure("lectures/02_linear_classifiers.ipynb", "softmax (scikit-learn, 5,000 images), validation",
           r"train accuracy [0-9.]+%, validation accuracy ([0-9.]+)%", "over 0.35 (49,000 images)"),
    Figure("a1_knn_linear", "kNN (k by 5-fold CV), test",
           r"kNN test accuracy on cifar10: ([0-9.]+)", "about 0.28", 0.27),
    Figure("a1_knn_linear", "linear SVM after the search, validation",
           r"LinearSVM: best validation accuracy ([0-9.]+)", "about 0.39", 0.37),
    Figure("a1_knn_linear", "linear SVM after the search, test",
           r"LinearSVM: best validation accuracy [0-9.]+ .*test accuracy ([0-9.]+)", "0.37-0.39"),
    Figure("a1_knn_linear", "softmax after the search, validation",
           r"Softmax\s*: best validation accuracy ([0-9.]+)", "over 0.35", 0.37),
    Figure("a1_knn_linear", "softmax after the search, test",
           r"Softmax\s*: best validation accuracy [0-9.]+ .*test accuracy ([0-9.]+)", "about 0.36"),
    Figure("a2_neural_networks", "two-layer network, test",
           r"test accuracy of the two-layer network: ([0-9.]+)", "over 0.48", 0.48),
    Figure("a2_neural_networks", "best fully connected network, test",
           r"test accuracy of best_model: ([0-9.]+)", "over 0.50", 0.50),
    Figure("a3_cnn", "numpy three-layer convnet (1 epoch), test",
           r"numpy convnet: best validation accuracy [0-9.]+, test accuracy ([0-9.]+)",
           "over 0.40 (validation)", 0.40),
    Figure("a3_cnn", "PyTorch CNN, test",
           r"test accuracy of torch_model: ([0-9.]+)", "over 0.70 (val., 10 epochs, GPU)", 0.65),
]


def cifar_dir() -> Path:
    from dlcv.data import CIFAR10_DIR

    return CIFAR10_DIR


def printed_lines(nb) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                out += o["text"].splitlines()
    return out


def figures_of(name: str, lines: list[str]) -> dict[str, float | None]:
    got = {}
    for f in FIGURES:
        if f.notebook != name:
            continue
        m = next((m for m in (re.search(f.pattern, ln) for ln in lines) if m), None)
        value = float(m.group(1)) if m else None
        got[f.label] = value / 100 if value is not None and value > 1 else value  # percentages
    return got


def run_lecture(path: Path) -> dict:
    """A lecture executed top to bottom in a fresh kernel, as `make bench` runs every notebook."""
    from run import run_notebook  # benchmarks/run.py

    seconds, status, nb = run_notebook(path)
    rel = str(path.relative_to(REPO))
    return dict(name=rel, seconds=seconds, status="ran" if status == "ok" else status,
                figures=figures_of(rel, printed_lines(nb)))


def grade_assignment(a: str, root: Path) -> dict:
    """Release, collect the reference solution and the blank student edition, autograde each;
    the scores, the reference's grading time and its figures."""
    import shutil

    import nbformat

    from autograder import cli
    from autograder import notebooks as nbs
    from autograder.course import Course, load_config

    shutil.copytree(REPO / "assignments" / a, root / "assignments" / a)
    os.environ["DLCV_COURSE_ROOT"] = str(root)
    os.environ.pop("DLCV_GRADEBOOK", None)
    course = Course(load_config())
    cli.release(course, a)
    nb_name = f"{a}.ipynb"
    source = nbs.read(root / "assignments" / a / nb_name)
    student = nbs.read(root / "release" / a / nb_name)
    incoming = root / "incoming"
    incoming.mkdir()
    nbformat.write(nbs.with_solutions(student, source), incoming / "reference.ipynb")
    nbformat.write(student, incoming / "blank.ipynb")
    cli.collect(course, a, incoming)
    t0 = time.perf_counter()
    status = cli.autograde(course, a, students=["reference"])
    seconds = time.perf_counter() - t0
    status.update(cli.autograde(course, a, students=["blank"]))
    scores = {r["student_id"]: r for r in cli.scores(course, a)}
    graded = nbs.read(root / "autograded" / "reference" / a / nb_name)
    return dict(name=a, seconds=seconds, status=", ".join(f"{k} {v}" for k, v in sorted(status.items())),
                # automatic points: the written answers await a grader (the reference's are the model's)
                reference=scores["reference"]["auto_score"], blank=scores["blank"]["auto_score"],
                max_score=scores["reference"]["max_auto"],
                figures=figures_of(a, printed_lines(graded)))


def table(rows: list[dict]) -> list[str]:
    """One table: per notebook its seconds (goal: 10 minutes) and grades, then one row per figure."""
    fig = {(f.notebook, f.label): f for f in FIGURES}
    lines = ["| notebook | seconds | autograded points: reference / blank / max | figure on CIFAR-10 "
             "| this course | CS231n | goal |", "|---|---:|---|---|---:|---|---|"]
    for r in rows:
        key = r["name"].split("/")[-1].removesuffix(".ipynb")
        slow = "" if r["seconds"] <= NOTEBOOK_GOAL_S else " (over 10 min)"
        marks = (f"{r['reference']:g} / {r['blank']:g} / {r['max_score']:g}" if "reference" in r
                 else "lecture, not graded")
        if r["status"] not in ("ran", "blank graded, reference graded"):
            marks += f" ({r['status']})"
        first = True
        for label, value in r["figures"].items():
            f = fig[(r["name"], label)]
            goal = "" if f.goal is None else (f"{f.goal:.2f}: " + (
                "missing" if value is None else "reached" if value >= f.goal else "NOT reached"))
            head = f"| {key} | {r['seconds']:.0f}{slow} | {marks} |" if first else "| | | |"
            lines.append(f"{head} {label} | {'missing' if value is None else f'{value:.3f}'} | "
                         f"{f.cs231n} | {goal} |")
            first = False
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=None,
                    help="notebooks to run (a part of the name: 01 a1 ...); default all")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = ap.parse_args(argv)
    from dlcv.data import cifar10_available, cifar10_missing_message

    if not cifar10_available():
        print("bench-cifar needs CIFAR-10. " + cifar10_missing_message(cifar_dir()))
        return 2
    names = list(dict.fromkeys(f.notebook for f in FIGURES))
    if args.only:
        names = [n for n in names if any(k in n for k in args.only)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="dlcv-bench-cifar-") as tmp:
        for n in names:
            print(f"[bench-cifar] {n} ...", flush=True)
            if n.startswith("lectures/"):
                r = run_lecture(REPO / n)
            else:
                r = grade_assignment(n, Path(tmp) / n)
            print(f"[bench-cifar] {n}: {r['seconds']:.0f} s, {r['status']}, {r['figures']}", flush=True)
            rows.append(r)
    from dlcv.timing import thread_count

    head = [f"# CIFAR-10 figures ({dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"{thread_count()} BLAS/torch thread(s) per kernel, data: {cifar_dir()})", ""]
    text = "\n".join(head + table(rows)) + "\n"
    print(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    out = REPO / "benchmarks" / "results" / "bench-cifar.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.replace(str(cifar_dir()), "$DLCV_DATA/cifar-10-batches-py"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
