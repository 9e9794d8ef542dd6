"""Student self-check: run the visible tests of your notebook and see what passes.

From a terminal, in the notebook's folder or the course's top folder (found in mywork/ or release/):

    python -m autograder.selfcheck a1_knn_linear.ipynb

or in the notebook itself (save it first: the check runs the file as last saved):

    from autograder.selfcheck import check_notebook
    check_notebook()       # finds the notebook it is called from; or check_notebook("a1.ipynb")

(While nbgrader runs the notebook, for Validate or for grading, the call does nothing.)

The notebook runs from top to bottom in a fresh kernel (your open notebook is not touched), then
every test cell is listed with "passed" or what is wrong ("svm_loss_naive is not implemented
yet ...", "dists is wrong ... expected ... got ..."), with the points of the visible tests
passed. Only the instructor's grading runs the hidden tests: they may still fail.
The grading rules the student edition carries apply here too (autograder/rules.py): a part that
must be written in numpy runs where torch, scipy and scikit-learn cannot be imported, and a
part graded in a kernel of its own runs on its own as well.
No instructor files are needed, only the student edition.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.notebooks import nbgrader_meta

SELFCHECK_ENV = "DLCV_SELFCHECK"  # set in the fresh kernel: check_notebook() there does nothing


@dataclass
class TestResult:
    grade_id: str
    functions: list[str]
    points: float
    passed: bool
    message: str  # "" when passed

    def line(self) -> str:
        what = ", ".join(self.functions) or self.grade_id
        pts = f"{self.points:g} pt" + ("" if self.points == 1 else "s")
        if self.passed:
            return f"  passed   {what} ({pts})"
        return f"  FAILED   {what} ({pts}): {self.message}"



def _is_test(cell) -> bool:
    m = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(m.get("grade")) and not m.get("solution")


def _first_line(text: str, limit: int = 600) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _run(nb, folder: Path, cell_timeout: int, kernel_name: str, env: dict | None) -> None:
    """Run nb in place in a fresh kernel; `env`: what the grading rules add to its environment
    (autograder/rules.py: kernel_env), PYTHONPATH first."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=kernel_name, allow_errors=True,
                            interrupt_on_timeout=True, record_timing=False,
                            resources={"metadata": {"path": str(folder)}})
    from dlcv.timing import thread_env

    env = {**thread_env(), **(env or {})}  # DLCV_THREADS (default 1) BLAS/torch threads, as the notebook
    saved = {k: os.environ.get(k) for k in {SELFCHECK_ENV, "PYTHONPATH", *env}}
    os.environ[SELFCHECK_ENV] = "1"  # inherited by the kernel
    for k, v in env.items():
        os.environ[k] = os.pathsep.join(filter(None, [v, saved["PYTHONPATH"]])) if k == "PYTHONPATH" else v
    try:
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _isolated_part(nb, iso: dict, folder: Path, cell_timeout: int, kernel_name: str,
                   tmp: Path) -> list[str]:
    """Run the isolated part's cells on their own, with its rules, as grading does; what failed."""
    import nbformat

    from autograder import rules

    cells = [nbformat.v4.new_code_cell(iso.get("preamble") or "import numpy as np")]
    names = []
    for c in nb.cells:
        gid = nbgrader_meta(c).get("grade_id")
        if c.cell_type == "code" and gid in (iso.get("cells") or []):
            cells.append(nbformat.v4.new_code_cell(c.source))
            names.append(gid)
    part = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    _run(part, folder, cell_timeout, kernel_name, rules.kernel_env(iso, tmp / "isolated"))
    from autograder.notebooks import error_summary

    problems = []
    for gid, c in zip(["preamble", *names], part.cells, strict=True):
        err = next((o for o in c.get("outputs", []) if o.get("output_type") == "error"), None)
        if err is not None:
            problems.append(f"  FAILED   cell {gid!r} on its own, with {_what(iso)} (as grading runs it): "
                            + _first_line(error_summary(err, c.source)))
    return problems


def _what(rules_: dict) -> str:
    blocked = rules_.get("blocked") or []
    return f"no {', '.join(blocked[:4])}" if blocked else "its rules"


def run_checks(path: str | Path, cell_timeout: int = 300, kernel_name: str = "python3",
               problems: list[str] | None = None) -> list[TestResult]:
    """Run the notebook at `path` in a fresh kernel; one TestResult per test cell.

    The grading rules the student edition carries (metadata "dlcv" -> "grading", written by
    `release`: autograder/rules.py) apply as when it is graded: what a part may not import fails
    with a message, and an isolated part's cells also run on their own; what fails there is
    appended to `problems`."""
    import tempfile

    import nbformat

    from autograder import rules

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    grading = (nb.metadata.get("dlcv") or {}).get("grading") or {}
    folder = path.parent.resolve()
    with tempfile.TemporaryDirectory(prefix="dlcv-selfcheck-") as tmp:
        tmp = Path(tmp)
        env = rules.kernel_env(grading, tmp / "notebook") if grading else None
        if grading.get("isolated"):
            found = _isolated_part(nb, grading["isolated"], folder, cell_timeout, kernel_name, tmp)
            if problems is not None:
                problems += found
        _run(nb, folder, cell_timeout, kernel_name, env)
    from autograder.notebooks import failed_cells

    results = []
    # answer cells that failed themselves (a SyntaxError, a forbidden import...), with their line
    broken = {gid: _first_line(error, 300) for gid, (_, error) in failed_cells(nb).items()}
    if problems is not None:
        problems += [f"  FAILED   answer cell {gid!r} stopped with {error}. Until it runs without an "
                     "error, the tests of its functions fail." for gid, error in broken.items()
                     if not error.startswith("NotImplementedError")]  # (not written yet: tests say so)
    for cell in nb.cells:
        if not _is_test(cell):
            continue
        m = nbgrader_meta(cell)
        needs = [g for g in (cell.get("metadata", {}).get("dlcv", {}).get("requires") or []) if g in broken]
        functions = list(dict.fromkeys(re.findall(r"checking\(\s*[\"']([^\"']+)[\"']", cell.source)))
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            e = errors[0]
            ename, evalue = e.get("ename", "Error"), e.get("evalue", "")
            if ename in ("KeyboardInterrupt", "CellTimeoutError"):
                msg = f"the test did not finish within {cell_timeout} s (an endless loop?)"
            elif ename == "CheckFailed":
                msg = _first_line(evalue)
            else:
                msg = _first_line(f"{ename}: {evalue}")
            if needs:  # the real bug is in the answer cell, not in this test
                msg = f"the answer cell {needs[0]!r} itself failed: {broken[needs[0]]}"
            results.append(TestResult(m.get("grade_id", "?"), functions, float(m.get("points", 0)),
                                      False, msg))
        else:
            results.append(TestResult(m.get("grade_id", "?"), functions, float(m.get("points", 0)),
                                      True, ""))
    return results


def summary(results: list[TestResult]) -> str:
    got = sum(r.points for r in results if r.passed)
    total = sum(r.points for r in results)
    n = sum(r.passed for r in results)
    return (f"visible tests passed: {n} of {len(results)} test cells, {got:g} of {total:g} points.\n"
            "Hidden tests run only when your work is graded: they may still fail, so test your "
            "functions on more cases than these.")


def written_status(nb) -> str:
    """One line on the written questions (graded by hand): how many are answered, which are not
    ("" when the notebook has none)."""
    from autograder.notebooks import written_cells

    written = written_cells(nb)
    if not written:
        return ""
    todo = [gid for gid, c in written.items() if c.source.strip() in ("", "YOUR ANSWER HERE")]
    points = sum(float(nbgrader_meta(c).get("points", 0)) for c in written.values())
    return (f"written questions: {len(written) - len(todo)} of {len(written)} answered "
            f"({points:g} points, graded by hand by your instructor)"
            + (f"; still to answer: {', '.join(todo)}" if todo else ""))


def report(path: str | Path, cell_timeout: int = 300, file=None) -> list[TestResult]:
    file = file or sys.stdout
    print(f"self-check of {path} (the file as last saved), in a fresh kernel ...", file=file, flush=True)
    problems: list[str] = []
    results = run_checks(path, cell_timeout, problems=problems)
    if not results:
        print("  no test cells found: is this an assignment notebook?", file=file)
    for r in results:
        print(r.line(), file=file)
    for line in problems:  # an answer cell that stopped with an error, or an isolated part's cell
        print(line, file=file)  # that fails on its own: grading will see it too
    print(summary(results), file=file, flush=True)
    try:
        import nbformat

        written = written_status(nbformat.read(str(path), as_version=4))
    except Exception:  # noqa: BLE001 - the run above already said what is wrong with the file
        written = ""
    if written:
        print(written, file=file, flush=True)
    if any("on its own" in line for line in problems):
        print("Some cells fail when they run on their own, as grading runs them: the tests of "
              "their functions will fail when graded.", file=file, flush=True)
    if any("  FAILED   answer cell" in line for line in problems):
        print("Fix the answer cells listed above first (run each one and read its error).", file=file,
              flush=True)
    return results


def current_notebook() -> Path | None:
    """The notebook this kernel belongs to, if it can be told: Jupyter's JPY_SESSION_NAME, VS Code's
    __vsc_ipynb_file__, or the only notebook in the working folder."""
    name = os.environ.get("JPY_SESSION_NAME")
    if name and name.endswith(".ipynb"):
        p = Path(name)
        for cand in (p, Path.cwd() / p.name):
            if cand.is_file():
                return cand
    try:
        from IPython import get_ipython

        ip = get_ipython()
        vsc = ip.user_ns.get("__vsc_ipynb_file__") if ip is not None else None
        if vsc and Path(vsc).is_file():
            return Path(vsc)
    except ImportError:
        pass
    found = [p for p in Path.cwd().glob("*.ipynb") if not p.name.startswith(".")]
    return found[0] if len(found) == 1 else None


def check_notebook(path: str | Path | None = None, cell_timeout: int = 300) -> list[TestResult] | None:
    """The in-notebook call: run the visible tests of this notebook (as saved) and print the results."""
    if os.environ.get(SELFCHECK_ENV):  # we are the fresh kernel of a self-check: do not recurse
        return None
    if os.environ.get("NBGRADER_EXECUTION"):  # nbgrader's Validate or the grader runs this notebook
        print("check_notebook() does nothing while nbgrader runs the notebook")
        return None
    nb = Path(path) if path else current_notebook()
    if nb is None:
        print("cannot tell which notebook this is: call check_notebook(\"name_of_notebook.ipynb\")")
        return None
    return report(nb, cell_timeout)


# Where a student edition lives below the course's top folder: a self-learner's working copy
# first (make start), then the released one. The instructor's sources (assignments/) and what
# grading makes are never searched.
WORK_FOLDERS = ("mywork", "release")
NOT_SEARCHED = {"assignments", "autograded", "submitted", "feedback", "exports", ".venv", "backups",
                ".ipynb_checkpoints", "node_modules", ".git"}


def find_notebook(name: str | Path, cwd: Path | None = None) -> Path:
    """The notebook the student means: `name` itself when it is a file; else, for a bare name
    such as a1_knn_linear.ipynb typed in a terminal that opened elsewhere (JupyterLab's opens in
    the top folder), mywork/<stem>/<name> or release/<stem>/<name>, else the one file of that
    name within three folders below. FileNotFoundError says where it looked."""
    cwd = Path(cwd or Path.cwd())
    p = Path(name)
    if (cwd / p).is_file():
        return cwd / p
    if p.suffix != ".ipynb" and (cwd / p.with_suffix(".ipynb")).is_file():
        return cwd / p.with_suffix(".ipynb")
    p = p if p.suffix == ".ipynb" else p.with_suffix(".ipynb")
    if len(p.parts) == 1:
        for folder in WORK_FOLDERS:
            cand = cwd / folder / p.stem / p.name
            if cand.is_file():
                print(f"(found {cand.relative_to(cwd)})")
                return cand
        found = []
        for depth in (1, 2, 3):
            for cand in sorted(cwd.glob("/".join(["*"] * depth) + "/" + p.name)):
                if not NOT_SEARCHED & set(cand.relative_to(cwd).parts[:-1]) and cand.is_file():
                    found.append(cand)
        if len(found) == 1:
            print(f"(found {found[0].relative_to(cwd)})")
            return found[0]
        if found:
            raise FileNotFoundError(
                f"{len(found)} notebooks named {p.name} here: "
                + ", ".join(str(f.relative_to(cwd)) for f in found[:5])
                + "; give the path of the one to check")
    raise FileNotFoundError(
        f"no notebook {str(name)!r} in {cwd} (nor in mywork/ or release/ below it): give its path, "
        "e.g. python -m autograder.selfcheck mywork/a1_knn_linear/a1_knn_linear.ipynb, or run the "
        "command in the notebook's folder")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.selfcheck", description=__doc__.split("\n")[0])
    p.add_argument("notebook")
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    args = p.parse_args(argv)
    try:
        path = find_notebook(args.notebook)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = report(path, args.timeout)
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
