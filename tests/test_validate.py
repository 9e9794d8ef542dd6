"""dlcv.validate: one argument order (who, name, value, ...) and one message style."""

import numpy as np
import pytest

from dlcv.validate import choice, finite_floats, integer, number_in, positive


def test_integer_accepts_ints_in_range_and_returns_int():
    assert integer("f", "k", 3, 1) == 3 and type(integer("f", "k", np.int64(3), 1)) is int
    assert integer("f", "k", 5, 1, 5) == 5 and integer("f", "k", -2) == -2


@pytest.mark.parametrize("value, lo, hi, message", [
    (0, 1, None, "f: k must be an int >= 1, got 0"),
    (True, 0, None, "f: k must be an int >= 0, got True"),
    (2.0, 1, None, "f: k must be an int >= 1, got 2.0"),
    (9, 1, 5, "f: k must be an int in 1..5, got 9"),
    ("3", None, None, "f: k must be an int, got '3'"),
])
def test_integer_refuses_with_one_message_style(value, lo, hi, message):
    with pytest.raises(ValueError) as e:
        integer("f", "k", value, lo, hi)
    assert str(e.value) == message


def test_positive_number_in_and_choice():
    assert positive("f", "lr", 1) == 1.0
    for bad in (0, -1.5, True, "1", float("nan")):
        with pytest.raises(ValueError, match="f: lr must be a positive number"):
            positive("f", "lr", bad)
    assert number_in("f", "t", 0.5, 0, 1) == 0.5
    with pytest.raises(ValueError, match=r"f: t must be a number in \[0, 1\], got 1.5"):
        number_in("f", "t", 1.5, 0, 1)
    assert choice("f", "kind", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="f: kind must be one of 'a', 'b', got 'c'"):
        choice("f", "kind", "c", ("a", "b"))
    with pytest.raises(ValueError, match="f: step must be one of 0, 1, 2, got 7"):
        choice("f", "step", 7, range(3))


def test_finite_floats_returns_float64_and_refuses_non_numbers_and_non_finite():
    out = finite_floats("f", "x", [1, 2])
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="f: x must be numbers, got dtype <U1"):
        finite_floats("f", "x", ["a"])
    with pytest.raises(ValueError, match=r"f: x must be finite \(no NaN or inf\)"):
        finite_floats("f", "x", [1.0, np.inf])
