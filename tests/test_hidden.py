"""The trusted side of grading without a sandbox (autograder/hidden.py): cases and verdicts,
student errors in a student's words, handles, and a reference that fails blamed on the course."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.hidden import _CURRENT, LocalSession, Namespace, StudentError, Verdict, case, expect_raises
from dlcv.checks import CheckFailed, expect_close


class Model:
    def __init__(self):
        self.W = None

    def train(self, X):
        self.W = np.ones(X.shape[1])
        return [1.0, 0.5]


def not_done(x):
    raise NotImplementedError()


def helper_not_done(x):
    return not_done(x)


def picky(k):
    if k < 1:
        raise ValueError("k must be at least 1")
    return k


NS = {"double": lambda x: 2 * x, "Model": Model, "not_done": not_done, "helper": helper_not_done,
      "picky": picky, "changes": lambda a: a.fill(0) or a}


@pytest.fixture
def st():
    return Namespace(LocalSession(dict(NS)))


def cases_of(fn) -> list:
    out: list = []
    token = _CURRENT.set(out)
    try:
        fn()
    finally:
        _CURRENT.reset(token)
    return out


def test_cases_record_verdicts_and_go_on(st):
    def run():
        with case("double", "right"):
            expect_close(st.double(2), 4, "double(2)")
        with case("double", "wrong"):
            expect_close(st.double(2), 5, "double(2)")
        with case("not_done", "missing"):
            st.not_done(1)
        with case("helper", "uses a missing one"):
            st.helper(1)
        with case("double", "returns garbage"):
            expect_close(st.Model(), 1.0, "x")

    got = cases_of(run)
    assert [c.passed for c in got] == [True, False, False, False, False]
    assert "double(2) is wrong" in got[1].message
    assert got[2].message == "not_done is not implemented yet"
    assert got[3].message == "not_done is not implemented yet (it is needed by helper)"
    assert "should be a number or numpy array, got RemoteObject" in got[4].message
    v = Verdict("test_double", 3.0, got)
    assert v.score == 0 and "0 of 3 points (1 of 5 cases passed)" in v.text()
    assert Verdict("t", 2.0, got[:1]).score == 2.0 and Verdict("t", 2.0, []).score == 0


def test_handles_call_read_and_set(st):
    m = st.Model()
    assert m.W.get() is None and m.train(np.zeros((2, 3))) == [1.0, 0.5]
    np.testing.assert_array_equal(m.W.get(), np.ones(3))
    m.W.set(np.zeros(2))
    assert m.W.get().tolist() == [0.0, 0.0]
    assert not hasattr(m, "shape")  # a remote object is not an array


def test_inputs_are_fresh_copies_and_changes_can_be_seen(st):
    a = np.arange(3.0)
    out, (args, _) = st.changes.returning_inputs(a)
    assert a.tolist() == [0.0, 1.0, 2.0] and args[0].tolist() == [0.0, 0.0, 0.0]


def test_expected_exceptions(st):
    expect_raises("ValueError", lambda: st.picky(0), "picky(0)")
    with pytest.raises(CheckFailed, match="should raise ValueError, but returned without an error"):
        expect_raises("ValueError", lambda: st.picky(2), "picky(2)")
    with pytest.raises(StudentError) as e:
        st.nothing_here(1)
    assert e.value.is_a("NameError") and "not defined" in e.value.message


def test_a_failing_reference_is_the_course_s_problem():
    ref = Namespace(LocalSession({"f": lambda x: 1 / x}, memo={}, key="k", reference=True))
    got = cases_of(lambda: _check(ref))
    assert not got[0].passed and "the course's reference failed on this case" in got[0].message


def _check(ref):
    with case("f", "zero"):
        ref.f(0)


def test_a_case_that_also_runs_other_functions_reminds_of_them(st):
    def run():
        with case("double", "right", uses=("helper",)):
            expect_close(st.double(2), 4, "double(2)")
        with case("double", "wrong, one line", uses=("helper",)):
            raise CheckFailed("should return a dict")
        with case("double", "wrong, several lines", uses=("helper", "picky")):
            expect_close(st.double(np.array([2.0])), [5.0], "double(2)")
        with case("picky", "raises", uses=("double",)):
            st.picky(0)
        with case("helper", "not implemented", uses=("not_done",)):
            st.helper(1)
        with case("double", "wrong, without uses"):
            raise CheckFailed("should return a dict")

    got = cases_of(run)
    assert [c.passed for c in got] == [True, False, False, False, False, False]
    assert got[0].message == ""
    assert got[1].message == ("should return a dict (this test also runs your helper: if its own test fails, "
                              "fix it first)")
    assert "\n" in got[2].message and got[2].message.endswith(
        "\n  This test also runs your helper and picky: if their own tests fail, fix them first.")
    assert got[3].message == ("ValueError: k must be at least 1 (this test also runs your double: if its own "
                              "test fails, fix it first)")
    assert got[4].message == "not_done is not implemented yet (it is needed by helper)"  # it says which
    assert got[5].message == "should return a dict"  # no uses: the message as it was
    assert Verdict("t", 2.0, got[:1]).score == 2.0 and Verdict("t", 2.0, got[:2]).score == 0
