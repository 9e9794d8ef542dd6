"""dlcv.checks: what a student reads when a test fails."""

import numpy as np
import pytest

from dlcv.checks import (
    CheckFailed,
    checking,
    expect_at_least,
    expect_close,
    expect_equal,
    expect_grad_close,
    expect_shape,
)


def test_not_implemented_becomes_a_clear_message():
    def svm_loss_naive():
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="svm_loss_naive is not implemented yet: replace"):
        with checking("svm_loss_naive"):
            svm_loss_naive()


def test_not_implemented_names_the_missing_dependency():
    def batchnorm_forward():
        raise NotImplementedError()

    class Net:
        def __init__(self, ready=True):
            if not ready:
                raise NotImplementedError()

        def loss(self):
            return batchnorm_forward()

    with pytest.raises(CheckFailed, match=r"^batchnorm_forward is not implemented yet "
                                          r"\(it is needed by best_model\)"):
        with checking("best_model", case="test accuracy"):
            Net().loss()
    with pytest.raises(CheckFailed, match=r"^Net is not implemented yet \(it is needed by Net.loss"):
        with checking("Net.loss"):
            Net(ready=False)
    class Stand(Net):  # a test's subclass: the message names the class where the code is written
        pass

    with pytest.raises(CheckFailed, match=r"^Net is not implemented yet \(it is needed by Stand"):
        with checking("Stand"):
            Stand(ready=False)
    with pytest.raises(CheckFailed, match=r"^setup is not implemented yet: replace"):
        with checking("setup"):  # raised at the top level of a notebook cell: the given name
            exec(compile("raise NotImplementedError()", "<cell>", "exec"))  # noqa: S102 - a stub cell


def test_other_errors_name_the_function_and_case():
    with pytest.raises(CheckFailed, match=r"predict_labels \(k=3\) raised IndexError: boom"):
        with checking("predict_labels", case="k=3"):
            raise IndexError("boom")
    with pytest.raises(CheckFailed, match="Run the cells above"):
        with checking("f"):
            undefined_name  # noqa: B018, F821 - the NameError is the case


def test_expect_close_reports_expected_and_got():
    with pytest.raises(CheckFailed) as e:
        with checking("svm_loss_vectorized", case="random 5x4"):
            expect_close(np.array([1.0, 2.0, 3.5]), np.array([1.0, 2.0, 3.0]), "loss")
    msg = str(e.value)
    assert "svm_loss_vectorized (random 5x4): loss is wrong" in msg
    assert "index (2,)" in msg and "expected 3" in msg and "got 3.5" in msg
    expect_close(np.float64(1.0), 1.0 + 1e-9, "x")  # scalars pass


def test_expect_close_shape_and_nan():
    with pytest.raises(CheckFailed, match=r"shape \(2, 3\), got \(3, 2\)"):
        expect_close(np.zeros((3, 2)), np.zeros((2, 3)), "dists")
    with pytest.raises(CheckFailed, match="NaN"):
        expect_close(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(CheckFailed, match="number or numpy array"):
        expect_close("1.0", 1.0)


def test_expect_shape_equal_at_least_grad():
    with pytest.raises(CheckFailed, match="numpy array of shape"):
        expect_shape([1, 2], (2,), "dists")
    expect_shape(np.zeros((2, 3)), (2, 3))
    with pytest.raises(CheckFailed, match="wrong at 1 of 3 positions"):
        expect_equal(np.array([0, 1, 1]), np.array([0, 1, 2]), "y_pred")
    with pytest.raises(CheckFailed, match="should reach at least 0.9700"):
        expect_at_least(0.95, 0.97, "test accuracy")
    with pytest.raises(CheckFailed, match="relative error"):
        expect_grad_close(np.array([1.0, 2.0]), np.array([1.0, 3.0]), "dW")
    expect_grad_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), "dW")


def test_expect_numeric_grads_accepts_right_and_names_wrong_gradients():
    from dlcv.checks import expect_numeric_grads

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    dout = rng.normal(size=(3, 2))
    expect_numeric_grads(lambda a, b: a @ b, [x, w], dout, [dout @ w.T, x.T @ dout], ("dx", "dw"))
    with pytest.raises(CheckFailed, match="dw does not match the numeric gradient"):
        expect_numeric_grads(lambda a, b: a @ b, [x, w], dout, [dout @ w.T, 2 * x.T @ dout],
                             ("dx", "dw"))
    with pytest.raises(ValueError, match="one of each"):
        expect_numeric_grads(lambda a: a, [x], dout, [], ("dx",))


def test_a_method_not_written_yet_is_named_by_the_class_that_defines_it():
    class LinearClassifier:
        def train(self):
            raise NotImplementedError()

    class LinearSVM(LinearClassifier):  # a subclass the student is given, or a test's own
        pass

    with pytest.raises(CheckFailed, match=r"^LinearClassifier.train is not implemented yet \(it is needed "
                                          r"by LinearSVM \(train and predict\)\): replace"):
        with checking("LinearSVM (train and predict)"):
            LinearSVM().train()
    with pytest.raises(CheckFailed, match=r"^LinearClassifier.train is not implemented yet: replace"):
        with checking("LinearClassifier.train"):
            LinearSVM().train()


def test_a_name_that_is_not_defined_says_its_cell_may_have_failed():
    with pytest.raises(CheckFailed) as e:
        with checking("softmax_loss_naive", case="W = 0"):
            softmax_loss_naive  # noqa: B018, F821 - the NameError is the case
    assert str(e.value) == (
        "softmax_loss_naive (W = 0): name 'softmax_loss_naive' is not defined: the cell that defines it "
        "has not run, or stopped with an error (a SyntaxError?). Run the cells above this one (Run > Run "
        "All Above) and read their errors.")


def test_a_test_that_uses_other_functions_names_them():
    def predict_labels(d):
        return np.zeros(3)[d + 5]  # raises IndexError (in numpy's indexing, from predict_labels)

    def cross_validate_knn(d):
        return predict_labels(d)

    uses = ("compute_distances_no_loops", "predict_labels")
    with pytest.raises(CheckFailed, match=r"^cross_validate_knn \(3 folds\): your predict_labels raised "
                                          r"IndexError: .*Fix predict_labels first \(its own test should "
                                          r"fail too\)\.$"):
        with checking("cross_validate_knn", case="3 folds", uses=uses):
            cross_validate_knn(0)
    with pytest.raises(CheckFailed) as e:  # a wrong value: the functions it also runs are named
        with checking("cross_validate_knn", case="3 folds", uses=uses):
            expect_close(np.array([0.5]), np.array([1.0]), "k_to_accuracies[1]")
    assert str(e.value).endswith("\n  This test also runs your compute_distances_no_loops and "
                                 "predict_labels: if their own test fails, fix them first.")
    with pytest.raises(CheckFailed) as e:
        with checking("cross_validate_knn", uses=("predict_labels",)):
            raise CheckFailed("should return a dict")
    assert str(e.value) == ("cross_validate_knn: should return a dict. This test also runs your "
                            "predict_labels: if its own test fails, fix it first.")
    with pytest.raises(CheckFailed, match=r"^f raised IndexError: boom. This test also runs your g"):
        with checking("f", uses=("g",)):
            raise IndexError("boom")


def test_lists_are_counted_not_shaped():
    from dlcv.checks import expect_len

    with pytest.raises(CheckFailed, match=r"^accs should hold 3 items, got a list of 2$"):
        expect_shape([0.5, 0.7], (3,), "accs")
    with pytest.raises(CheckFailed, match=r"^accs should be a numpy array of shape \(2,\), got a list of 2 "
                                          r"items$"):
        expect_shape([0.5, 0.7], (2,), "accs")
    with pytest.raises(CheckFailed, match=r"^k_to_accuracies\[1\] should hold 3 accuracies, one per fold, "
                                          r"got 2$"):
        expect_len([0.5, 0.7], 3, "k_to_accuracies[1]", "accuracies, one per fold")
    with pytest.raises(CheckFailed, match=r"^results\[\(0.1, 1.0\)\] should be a list of 2 accuracies, got "
                                          r"the number 0.3$"):
        expect_len(0.3, 2, "results[(0.1, 1.0)]", "accuracies")
    with pytest.raises(CheckFailed, match=r"should be a list of 2 items, got None$"):
        expect_len(None, 2, "x")
    expect_len((0.5, 0.7), 2, "results")
    expect_len(np.zeros(2), 2, "results")


def test_a_wrong_loss_is_named_before_its_gradient():
    from dlcv.checks import expect_loss_before_gradient

    with pytest.raises(CheckFailed) as e:
        expect_loss_before_gradient(12.4, 6.4, "the hand-checked case")
    assert str(e.value).startswith(
        "the loss is wrong (fix the loss test first): the numeric gradient is computed from your loss, so "
        "dW cannot be checked until the loss is right. On the hand-checked case: loss is wrong.")
    expect_loss_before_gradient(6.4, 6.4, "the hand-checked case")


# ------------------------------------------------------------------------------------------
# needs: display cells
# ------------------------------------------------------------------------------------------
class _Notebook:
    """Cells run as a kernel runs them: one namespace, each cell's source in linecache under a
    file name of its own (so that inspect and the `with needs` statement can read it)."""

    def __init__(self):
        self.ns = {"__name__": "__main__"}
        self.count = 0
        exec("from dlcv.checks import needs", self.ns)  # noqa: S102 - a notebook's namespace

    def run(self, src: str):
        import linecache
        import textwrap

        self.count += 1
        src = textwrap.dedent(src).strip() + "\n"
        name = f"<test cell {id(self)} {self.count}>"
        linecache.cache[name] = (len(src), None, src.splitlines(keepends=True), name)
        exec(compile(src, name, "exec"), self.ns)  # noqa: S102 - a notebook's cell


STUB_CELLS = '''
def distances(a, b):
    """A function of the student edition."""
    d = 0
    # YOUR CODE HERE
    raise NotImplementedError()
    return d


def vote(d, k):
    # YOUR CODE HERE
    raise NotImplementedError()


class Model:
    def __init__(self):
        self.w = None

    def train(self):
        return helper(self.w)

    def predict(self):
        # YOUR CODE HERE
        raise NotImplementedError()


def helper(w):
    # YOUR CODE HERE
    raise NotImplementedError()
'''


@pytest.fixture
def notebook(monkeypatch):
    from dlcv import checks

    monkeypatch.setattr(checks, "_UNFINISHED", {})
    nb = _Notebook()
    nb.run(STUB_CELLS)
    return nb


def test_needs_stops_before_a_function_that_is_not_written(notebook):
    from dlcv.checks import NotReady

    with pytest.raises(NotReady, match=r"^distances is not implemented yet: replace `raise "
                                       r"NotImplementedError\(\)` with your code, run its cell, then run "
                                       r"this one\.$"):
        notebook.run('''
        with needs("distances"):
            ran = True
            d = distances(1, 2)
        ''')
    assert "ran" not in notebook.ns  # the block did not start
    with pytest.raises(NotReady, match=r"^distances and vote are not implemented yet: replace .* with your "
                                       r"code in each, run their cells, then run this one\.$"):
        notebook.run('with needs("distances", "vote"):\n    pass')
    with pytest.raises(NotReady, match=r"^Model.predict is not implemented yet"):
        notebook.run('with needs("Model"):\n    pass')
    notebook.run("class Model:\n    def __init__(self):\n        raise NotImplementedError()\n"
                 "    def loss(self):\n        raise NotImplementedError()")
    with pytest.raises(NotReady, match=r"^Model \(__init__ and loss\) is not implemented yet"):
        notebook.run('with needs("Model"):\n    pass')


def test_needs_names_a_function_that_is_not_defined_or_a_result_still_none(notebook):
    from dlcv.checks import NotReady

    with pytest.raises(NotReady, match=r"^predict_labels is not defined yet: run its cell above \(Run > Run "
                                       r"All Above\), then run this one\.$"):
        notebook.run('with needs("predict_labels"):\n    pass')
    notebook.run("best_model = None")
    with pytest.raises(NotReady, match=r"^best_model is still None: write the cell above that sets it, run "
                                       r"it, then run this one\.$"):
        notebook.run('with needs("best_model"):\n    best_model.loss()')


def test_a_function_that_is_not_written_deeper_down_is_named_with_its_caller(notebook):
    from dlcv.checks import NotReady

    notebook.run("def loss():\n    return helper(0)\n\n\ndef train():\n    return loss()")
    with pytest.raises(NotReady) as e:
        notebook.run('with needs("Model.train"):\n    Model().train()')
    assert str(e.value).startswith("helper is not implemented yet (it is needed by Model.train): replace")
    with pytest.raises(NotReady, match=r"^helper is not implemented yet \(it is needed by loss\)"):
        notebook.run('with needs("loss"):\n    train()')
    with pytest.raises(NotReady, match=r"^helper is not implemented yet \(it is needed by train\)"):
        notebook.run('with needs("Model.train"):\n    train()')  # none listed: what the cell called


def test_a_later_cell_says_which_cell_did_not_compute_its_input(notebook):
    from dlcv.checks import NotReady

    with pytest.raises(NotReady):
        notebook.run('''
        results = {}
        with needs("distances"):
            searches = {}
            d = distances(1, 2)
        ''')
    message = (r"^searches is not ready: the cell above that computes it stopped \(distances is not "
               r"implemented yet\)\. Fix that, run that cell again, then run this one\.$")
    with pytest.raises(NotReady, match=message):  # searches is {}: defined, but not computed
        notebook.run('with needs("Model.train"):\n    print(len(searches), results)')
    with pytest.raises(NotReady, match=r"^d is not ready"):  # never defined: the same message
        notebook.run('with needs("Model.train"):\n    print(d)')
    with pytest.raises(NotReady, match=r"^searches and d are not ready: the cell above that computes them"):
        notebook.run('with needs("Model.train"):\n    print(searches, d)')
    notebook.run('with needs("Model.train"):\n    searches = {"own": 1}\n    print(searches)')  # its own
    notebook.run("def distances(a, b):\n    return a + b")  # written now: run the first cell again
    notebook.run('with needs("distances"):\n    searches = {}\n    d = distances(1, 2)')
    notebook.run('with needs("distances"):\n    total = d + len(searches)')
    assert notebook.ns["total"] == 3


def test_a_result_set_again_by_another_cell_is_ready(notebook):
    from dlcv.checks import NotReady

    with pytest.raises(NotReady):
        notebook.run('with needs("distances"):\n    d = distances(1, 2)')
    notebook.run("d = 5  # set by a cell of the student's own")
    notebook.run('with needs("Model.train"):\n    e = d + 1')
    assert notebook.ns["e"] == 6


def test_a_name_the_block_misses_becomes_one_line(notebook):
    from dlcv.checks import NotReady

    message = (r"^knn_test_acc is not defined yet: a cell above computes it and has not run; run the cells "
               r"above in order \(Run > Run All Above\), then run this one\.$")
    with pytest.raises(NotReady, match=message):
        notebook.run('with needs("Model.train"):\n    print(knn_test_acc)')
    with pytest.raises(NotReady, match=r"^best_k is not defined yet"):  # in a comprehension of the cell
        notebook.run('with needs("Model.train"):\n    print([best_k for _ in range(2)])')


def test_needs_leaves_the_students_own_errors_alone(notebook):
    import types

    from dlcv.checks import NotReady

    notebook.run("def broken():\n    return undefined_name_in_a_function\n\n\n"
                 "def divide():\n    return 1 / 0\n\n\n"
                 "def branch(kind):\n    if kind != 'rnn':\n        raise NotImplementedError(kind)\n"
                 "    return 1")
    with pytest.raises(ZeroDivisionError):
        notebook.run('with needs("divide"):\n    divide()')
    with pytest.raises(NameError, match="undefined_name_in_a_function"):  # a misspelt name in their code
        notebook.run('with needs("broken"):\n    broken()')
    with pytest.raises(NotImplementedError, match="lstm"):  # raised by design in a branch: not a stub
        notebook.run('with needs("branch"):\n    x = branch("rnn")\n    branch("lstm")')
    library = types.ModuleType("library")  # a module's stub: not the notebook's
    exec("def unsupported():\n    raise NotImplementedError()", library.__dict__)  # noqa: S102 - a stub
    notebook.ns["library"] = library
    with pytest.raises(NotImplementedError) as e:
        notebook.run('with needs("branch"):\n    library.unsupported()')
    assert type(e.value) is NotImplementedError
    with pytest.raises(NotReady, match=r"^x is not ready: the cell above that computes it stopped "
                                       r"\(NotImplementedError: lstm\)"):
        notebook.run('with needs("branch"):\n    print(x)')


def test_a_finished_block_runs_as_if_it_were_not_there(notebook):
    notebook.run("def distances(a, b):\n    return a + b\n\n\nclass Model:\n    def train(self):\n"
                 "        return 1")
    notebook.run('''
    setup = 1
    with needs("distances", "Model", "Model.train"):
        d = distances(setup, 2)
        for k in range(2):
            d += k
    ''')
    assert notebook.ns["d"] == 4


def test_not_ready_shows_one_line_in_jupyter():
    from dlcv.checks import NotReady

    lines = NotReady("distances is not implemented yet: replace ...")._render_traceback_()
    assert len(lines) == 1
    assert lines[0].endswith("NotReady\x1b[0m: distances is not implemented yet: replace ...")
