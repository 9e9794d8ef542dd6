"""What a student of a1 reads for the mistakes testers made: each mistake is fed into the student
function, then a1's visible test cell runs (in an in-process IPython shell, as in a notebook) and
its hidden test runs (in the grader's process, without a sandbox, as in test_hidden.py), and the
text of the message is checked: it must point at the real bug.
"""

from __future__ import annotations

import ast
import re
import types

import nbformat
import numpy as np
import pytest
from conftest import REPO

from autograder import notebooks as nbs
from autograder.hidden import _CURRENT, LocalSession, Namespace, Spec, reference
from dlcv.checks import CheckFailed

A = "a1_knn_linear"
SOURCE = nbs.read(REPO / "assignments" / A / f"{A}.ipynb")
CELLS = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in SOURCE.cells
         if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")}


def _imports() -> str:
    """The notebook's numpy, dlcv.checks and dlcv.gradcheck imports (the rest of its first cell,
    plots and thread settings, stays out of the test process)."""
    cell = next(c.source for c in SOURCE.cells if "from dlcv.checks import" in c.source)
    tree = ast.parse("\n".join(ln for ln in cell.splitlines() if not ln.lstrip().startswith("%")))
    keep = [n for n in tree.body if isinstance(n, ast.Import) and n.names[0].name == "numpy"
            or isinstance(n, ast.ImportFrom) and n.module in ("dlcv.checks", "dlcv.gradcheck")]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def unwritten(gid: str) -> str:
    """An answer cell as the student edition has it (nbgrader's ClearSolutions)."""
    return re.sub(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?",
                  lambda m: f"{m[1]}# YOUR CODE HERE\n{m[1]}raise NotImplementedError()\n",
                  CELLS[gid], flags=re.S | re.M)


def mistaken(gid: str, old: str, new: str) -> str:
    """The reference answer cell with one mistake: `old` (found once) replaced by `new`."""
    assert CELLS[gid].count(old) == 1, f"{old!r} is not in {gid} once"
    return CELLS[gid].replace(old, new)


# ------------------------------------------------------------------------------------------
# the visible tests, in an IPython shell
# ------------------------------------------------------------------------------------------
class Shell:
    """Cells run as in a notebook (IPython's history, `In`, cell file names); `errors`: the error
    outputs the kernel would send (ename, evalue, traceback), by execution count."""

    def __init__(self, ip):
        self.ip, self.errors, self._shown = ip, {}, []
        ip._showtraceback = self._record

    def _record(self, etype, evalue, stb):
        self._shown.append(nbformat.v4.new_output("error", ename=etype.__name__, evalue=str(evalue),
                                                  traceback=list(stb)))

    def run(self, source: str) -> BaseException | None:
        count, self._shown = self.ip.execution_count, []
        r = self.ip.run_cell(source, store_history=True)
        if self._shown:
            self.errors[count] = self._shown[0]
        return r.error_before_exec or r.error_in_exec

    def answers(self, **cells: str) -> None:
        """Run the answer cells (and given code) a test needs: `gid=source` replaces one."""
        for gid, src in cells.items():
            self.run(src if src is not None else CELLS[gid])

    def failure(self, test: str) -> str:
        """The message of the test cell `test` (it must fail with CheckFailed)."""
        err = self.run(CELLS[test])
        assert isinstance(err, CheckFailed), f"{test} did not fail with a message: {err!r}"
        return str(err)


@pytest.fixture
def shell(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = Shell(InteractiveShell.instance(config=config))
    assert sh.run(_imports()) is None
    yield sh
    InteractiveShell.clear_instance()


# ------------------------------------------------------------------------------------------
# the hidden tests, in the grader's process
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grader():
    spec = Spec.find(REPO, A)
    tests = spec.load()
    return types.SimpleNamespace(spec=spec, tests=tests, ref=reference(spec, tests))


def student(grader, **replace) -> dict:
    """The student's namespace: the source's answer cells, with `gid=source` replaced (None:
    the cell never ran)."""
    ns: dict = {"__name__": "student"}
    exec("import numpy as np", ns)  # noqa: S102 - the student namespace's import
    for gid, src in grader.spec.reference_source():
        src = replace.get(gid, src)
        if src is not None:
            exec(compile(src, f"<cell {gid}>", "exec"), ns)  # noqa: S102 - the source's cells
    return ns


def hidden(grader, test: str, ns: dict, failed: dict | None = None) -> dict:
    """case label -> message ("" when passed) of the hidden test `test` on namespace `ns`."""
    session = LocalSession(ns)
    if failed:
        session.failed_cells = failed
    out: list = []
    token = _CURRENT.set(out)
    try:
        grader.tests.tests[test].func(Namespace(session, grader.tests.probes), grader.ref)
    finally:
        _CURRENT.reset(token)
    return {c.case: c.message for c in out}


def only_failure(cases: dict) -> tuple[str, str]:
    failed = [(k, v) for k, v in cases.items() if v]
    assert len(failed) == 1, failed
    return failed[0]


def tiny_linear_data(sh):
    """The names an accuracy test cell reads, small (a failure there comes before any training)."""
    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(40, 4)), np.ones((40, 1))])
    S = Spec.find(REPO, A).value("SETTINGS")["digits"]  # the notebook's settings for the digits
    sh.ip.user_ns.update(data=types.SimpleNamespace(name="digits"), S=S, X_train_lin=X,
                         y_train_lin=np.arange(40) % 3, X_test_lin=X[:10], y_test_lin=np.arange(10) % 3)


# ------------------------------------------------------------------------------------------
# 1. a method not written yet is named where the student writes it
# ------------------------------------------------------------------------------------------
def test_unwritten_train_is_named_linear_classifier_train(shell, grader):
    shell.answers(linear_classifier=unwritten("linear_classifier"), linear_subclasses=None,
                  svm_vectorized=None)
    msg = shell.failure("test_linear_train")  # through the test's own subclass _ConstantGradient
    assert msg.startswith("LinearClassifier.train is not implemented yet: replace"), msg
    tiny_linear_data(shell)
    msg = shell.failure("test_linear_svm_accuracy")  # through LinearSVM
    assert msg.startswith("LinearClassifier.train is not implemented yet (it is needed by LinearSVM "
                          "(train, predict and svm_loss_vectorized))"), msg
    assert "_ConstantGradient" not in msg and "LinearSVM.train" not in msg

    ns = student(grader, linear_classifier=unwritten("linear_classifier"))
    for case, message in hidden(grader, "test_linear_train", ns).items():
        assert message == "LinearClassifier.train is not implemented yet", (case, message)
    cases = hidden(grader, "test_linear_svm_accuracy", ns)
    assert list(cases.values()) == ["LinearClassifier.train is not implemented yet (it is needed by "
                                    "LinearSVM (train, predict and svm_loss_vectorized))"]


# ------------------------------------------------------------------------------------------
# 2. a SyntaxError in an answer cell is reported with its line, not as "not defined"
# ------------------------------------------------------------------------------------------
BROKEN_SOFTMAX = mistaken("softmax_naive", "    loss /= num_train\n", "    loss /= num_train)\n")
BROKEN_LINE = BROKEN_SOFTMAX.splitlines().index("    loss /= num_train)") + 1


def test_a_syntax_error_in_the_answer_cell_is_shown_with_its_line(shell, grader):
    shell.answers(softmax_naive=BROKEN_SOFTMAX)
    msg = shell.failure("test_softmax_naive_loss")
    assert msg.startswith("softmax_loss_naive (W = 0, 4 samples, C=5, reg=0): name 'softmax_loss_naive' "
                          f"is not defined: the cell that defines it (In [2]) stops with a SyntaxError at "
                          f"line {BROKEN_LINE} (`loss /= num_train)`): unmatched ')'. Fix that line, run "
                          "that cell, then this test again."), msg

    # the grader: the cell's error output as the kernel sent it, then a hidden test
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        BROKEN_SOFTMAX, metadata={"nbgrader": {"grade_id": "softmax_naive", "solution": True}},
        outputs=[shell.errors[2]])])
    failed = nbs.failed_cells(nb)
    assert failed["softmax_naive"][1] == (f"SyntaxError at line {BROKEN_LINE} (`loss /= num_train)`): "
                                          "unmatched ')'")
    cases = hidden(grader, "test_softmax_naive_loss", student(grader, softmax_naive=None), failed)
    for case, message in cases.items():
        assert message == ("softmax_loss_naive is not defined: the cell that defines it ('softmax_naive') "
                           f"stopped with SyntaxError at line {BROKEN_LINE} (`loss /= num_train)`): "
                           "unmatched ')'. Fix that cell, run it, and check its test again"), (case, message)


def test_a_cell_that_never_ran_is_named_as_a_possible_cause(shell):
    msg = shell.failure("test_softmax_naive_loss")
    assert msg.endswith("name 'softmax_loss_naive' is not defined: the cell that defines it has not run, "
                        "or stopped with an error (a SyntaxError?). Run the cells above this one (Run > "
                        "Run All Above) and read their errors."), msg


def test_a_cell_that_stopped_at_run_time_is_named(shell):
    shell.answers(softmax_naive="import numpy as np\nnp.no_such_thing\n" + CELLS["softmax_naive"])
    msg = shell.failure("test_softmax_naive_loss")
    assert "is not defined: the cell that defines it (In [2]) stopped with an error before it got " \
           "there. Run that cell again, read its error and fix it" in msg, msg


def test_probes_say_which_cell_should_define_a_missing_class(grader):
    """test_linear_train runs the student's LinearClassifier through a probe: a missing class is a
    name that is not defined (not a KeyError in the probe)."""
    ns = student(grader, linear_classifier=None, linear_subclasses=None)
    cases = hidden(grader, "test_linear_train", ns)
    for case, message in cases.items():
        assert message == ("name 'LinearClassifier' is not defined: run the cell that defines it, and keep "
                           "its name"), (case, message)


# ------------------------------------------------------------------------------------------
# 3. a wrong loss makes the gradient test say "fix the loss first", not "dW is wrong"
# ------------------------------------------------------------------------------------------
LOSS_MISTAKES = {  # answer cell -> (function, {mistake: (old, new)}): dW stays right
    "svm_naive": ("svm_loss_naive", {
        "no reg": ("    loss += reg * np.sum(W * W)\n", ""),
        "no /N": ("    loss /= num_train\n", "")}),
    "svm_vectorized": ("svm_loss_vectorized", {
        "no reg": ("loss = np.sum(margins) / num_train + reg * np.sum(W * W)",
                   "loss = np.sum(margins) / num_train"),
        "no /N": ("loss = np.sum(margins) / num_train + reg", "loss = np.sum(margins) + reg")}),
    "softmax_naive": ("softmax_loss_naive", {
        "no reg": ("    loss += reg * np.sum(W * W)\n", ""),
        "no /N": ("    loss /= num_train\n", "")}),
    "softmax_vectorized": ("softmax_loss_vectorized", {
        "no reg": ("loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
                   "loss = -np.mean(log_probs[rows, y])"),
        "no /N": ("loss = -np.mean(log_probs[rows, y])", "loss = -np.sum(log_probs[rows, y])")}),
}


@pytest.mark.parametrize("gid,mistake", [(g, m) for g, (_, ms) in LOSS_MISTAKES.items() for m in ms])
def test_a_wrong_loss_is_named_by_the_gradient_test(shell, grader, gid, mistake):
    function, mistakes = LOSS_MISTAKES[gid]
    src = mistaken(gid, *mistakes[mistake])
    shell.answers(**{gid: src})
    grad_test = f"test_{gid}_grad"
    msg = shell.failure(grad_test)
    assert msg.startswith(f"{function} (random 6 samples, D=5, C=4, reg=0.05): the loss is wrong (fix the "
                          "loss test first): the numeric gradient is computed from your loss, so dW cannot "
                          "be checked until the loss is right. On "), msg
    assert "does not match the numeric gradient" not in msg
    assert isinstance(shell.run(CELLS[f"test_{gid}_loss"]), CheckFailed)  # the loss test fails too

    case, message = only_failure(hidden(grader, grad_test, student(grader, **{gid: src})))
    assert case == "random 6 samples, D=5, C=4, reg=0.05"  # the visible case; the hidden ones pass
    assert message.startswith("the loss is wrong (fix the loss test first): the numeric gradient is computed "
                              "from your loss, so dW cannot be checked until the loss is right. On this "
                              "case: loss is wrong."), message


def test_a_right_loss_with_a_wrong_gradient_still_says_dw(shell):
    shell.answers(svm_naive=mistaken("svm_naive", "    dW += 2.0 * reg * W\n", ""))
    assert "dW does not match the numeric gradient" in shell.failure("test_svm_naive_grad")


# ------------------------------------------------------------------------------------------
# 4. a test that also runs other functions says which one is the cause
# ------------------------------------------------------------------------------------------
CV_CELLS = dict(knn_no_loops=None, knn_predict=None, knn_cross_validate=None)
FARTHEST = mistaken("knn_predict", 'np.argsort(dists, axis=1, kind="stable")[:, :k]',
                    'np.argsort(-dists, axis=1, kind="stable")[:, :k]')  # the k farthest vote
CRASHES = mistaken("knn_predict", "closest_y = y_train[nearest]", "closest_y = y_train[nearest + 100]")


def test_cross_validation_names_the_vote_that_raised(shell, grader):
    shell.answers(**{**CV_CELLS, "knn_predict": CRASHES})
    msg = shell.failure("test_knn_cross_validate")
    assert msg.startswith("cross_validate_knn (7 points on a line, 3 folds): your predict_labels raised "
                          "IndexError: "), msg
    assert msg.endswith("Fix predict_labels first (its own test should fail too).")

    cases = hidden(grader, "test_knn_cross_validate", student(grader, knn_predict=CRASHES))
    assert all(m.startswith("IndexError in predict_labels: ") for m in cases.values()), cases


def test_cross_validation_says_it_runs_the_vote_when_the_result_is_wrong(shell, grader):
    shell.answers(**{**CV_CELLS, "knn_predict": FARTHEST})
    msg = shell.failure("test_knn_cross_validate")
    assert msg.startswith("cross_validate_knn (7 points on a line, 3 folds): k_to_accuracies[1] is wrong")
    assert msg.endswith("\n  This test also runs your compute_distances_no_loops and predict_labels: if "
                        "their own test fails, fix them first."), msg

    cases = hidden(grader, "test_knn_cross_validate", student(grader, knn_predict=FARTHEST))
    failed = [m for m in cases.values() if m]
    assert failed and all(m.endswith("\n  This test also runs your predict_labels, which is wrong on its "
                                    "own test's case: fix it first.") for m in failed), failed


def test_the_knn_accuracy_test_names_the_wrong_vote_in_the_grader(grader):
    (_, message), = hidden(grader, "test_knn_accuracy", student(grader, knn_predict=FARTHEST)).items()
    assert "test accuracy is" in message
    assert message.endswith("(this test also runs your predict_labels, which is wrong on its own test's "
                            "case: fix it first)"), message


def test_the_accuracy_test_names_the_loss_that_raised(shell):
    crash = mistaken("svm_vectorized", "correct = scores[rows, y][:, None]", "correct = scores[rows, y + 99]")
    shell.answers(linear_classifier=None, linear_subclasses=None, svm_vectorized=crash)
    tiny_linear_data(shell)
    msg = shell.failure("test_linear_svm_accuracy")
    assert msg.startswith("LinearSVM (train, predict and svm_loss_vectorized) (digits, "), msg
    assert ": your svm_loss_vectorized raised IndexError: " in msg
    assert msg.endswith("Fix svm_loss_vectorized first (its own test should fail too).")


def test_the_accuracy_test_names_a_wrong_loss_in_the_grader(grader):
    """A gradient with the wrong sign trains away from the labels: the accuracy is low, and the
    feedback says the loss is the cause."""
    wrong = mistaken("svm_vectorized", "dW = X.T @ coeff / num_train", "dW = -X.T @ coeff / num_train")
    cases = hidden(grader, "test_linear_svm_accuracy", student(grader, svm_vectorized=wrong))
    (_, message), = cases.items()
    assert "test accuracy is" in message, message
    assert message.endswith("(this test also runs your svm_loss_vectorized, which is wrong on its own "
                            "test's case: fix it first)"), message


# ------------------------------------------------------------------------------------------
# 5. wording: counts for lists, "got None"
# ------------------------------------------------------------------------------------------
def test_a_search_that_returns_no_model_says_got_none(shell, grader):
    src = mistaken("tune_linear", "best_val, best_model = val_acc, model", "best_val = val_acc")
    shell.answers(tune_linear=src)
    msg = shell.failure("test_tune_linear")
    assert msg.endswith("which has the best validation accuracy 0.8; got None"), msg

    cases = hidden(grader, "test_tune_linear", student(grader, tune_linear=src))
    assert cases["2 learning rates x 2 regs with known accuracies"].endswith(
        "which has the best validation accuracy 0.8; got None"), cases
    assert cases["num_iters is passed on, every pair trained"] == ""  # (that part is right)


def test_a_fold_too_few_is_counted_not_shaped(shell, grader):
    src = mistaken("knn_cross_validate", "for f in range(num_folds):", "for f in range(num_folds - 1):")
    shell.answers(**{**CV_CELLS, "knn_cross_validate": src})
    msg = shell.failure("test_knn_cross_validate")
    assert msg.startswith("cross_validate_knn (7 points on a line, 3 folds): k_to_accuracies[1] should "
                          "hold 3 accuracies, one per fold, got 2."), msg
    assert "shape" not in msg

    cases = hidden(grader, "test_knn_cross_validate", student(grader, knn_cross_validate=src))
    assert cases["7 points on a line, 3 folds"] == ("k_to_accuracies[1] should hold 3 accuracies, one per "
                                                    "fold, got 2"), cases


def test_a_train_that_returns_nothing_says_got_none(shell, grader):
    src = mistaken("linear_classifier", "        return loss_history\n", "\n")
    shell.answers(linear_classifier=src)
    assert shell.failure("test_linear_train").endswith("train should return a list of 7 losses, got None")
    cases = hidden(grader, "test_linear_train", student(grader, linear_classifier=src))
    assert cases["a loss whose gradient is always 1, 7 steps"] == ("train should return a list of 7 losses, "
                                                                   "got None")


# ------------------------------------------------------------------------------------------
# 6. no clip at 0 before the square root: the visible test fails, and so does the grader
# ------------------------------------------------------------------------------------------
UNCLIPPED = mistaken("knn_no_loops", "np.sqrt(np.maximum(sq, 0.0))", "np.sqrt(sq)")


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_distances_without_the_clip_fail_the_no_nan_test(shell, grader):
    shell.answers(knn_no_loops=UNCLIPPED)
    msg = shell.failure("test_knn_no_loops_no_nan")
    m = re.fullmatch(r"compute_distances_no_loops \(40 test points equal to the 40 training points\): "
                     r"dists holds (\d+) nan values where a test point equals a training point: rounding "
                     r"made the squared distance slightly negative; clip it at 0 \(np.maximum\) before "
                     r"np.sqrt", msg)
    assert m and int(m.group(1)) > 0, msg
    assert shell.run(CELLS["test_knn_no_loops"]) is None  # the small case has no rounding trouble

    cases = hidden(grader, "test_knn_no_loops_no_nan", student(grader, knn_no_loops=UNCLIPPED))
    assert "dists holds" in cases["40 test points equal to the 40 training points"]
    assert "clip it at 0" in cases["identical rows with large values (rounding)"]
    assert not cases["a test point equal to a training point"]


# ------------------------------------------------------------------------------------------
# the reference passes every changed test
# ------------------------------------------------------------------------------------------
def test_the_reference_passes_the_visible_tests(shell):
    """(The accuracy tests need the data and training: tests/test_nbgrader.py runs them.)"""
    shell.answers(**{gid: None for gid in nbs.answer_cells(SOURCE)}, linear_subclasses=None)
    for gid in nbs.test_cells(SOURCE):
        if gid not in ("test_knn_accuracy", "test_linear_svm_accuracy", "test_softmax_accuracy"):
            assert shell.run(CELLS[gid]) is None, gid


def test_the_reference_passes_the_changed_hidden_tests(grader):
    ns = student(grader)
    for test in ("test_knn_no_loops_no_nan", "test_knn_cross_validate", "test_svm_naive_grad",
                 "test_softmax_vectorized_grad", "test_linear_train", "test_tune_linear"):
        cases = hidden(grader, test, ns)
        assert cases and not any(cases.values()), (test, cases)
