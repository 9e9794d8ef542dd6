"""Argument checks with one argument order, (who, name, value, ...), and one message style:
"who: name must be ..., got value". Every room validates its public functions' arguments with
these, so that a bad value fails at once with a message naming the function and the argument.

    integer(who, name, value, lo=None, hi=None)   an int (not a bool) in lo..hi -> int
    positive(who, name, value)                    a number > 0 -> float
    number_in(who, name, value, lo, hi)           a number in [lo, hi] -> float
    choice(who, name, value, options)             one of options -> value
    finite_floats(who, name, value)               an array of finite numbers -> float64 array
"""

from __future__ import annotations

import numpy as np


def integer(who: str, name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """`value` as an int, if it is an int (a numpy integer too, never a bool) in lo..hi."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
        span = (f"in {lo}..{hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None
                else f"<= {hi}" if hi is not None else "")
        raise ValueError(f"{who}: {name} must be an int {span}".rstrip() + f", got {value!r}")
    return int(value)


def positive(who: str, name: str, value) -> float:
    """`value` as a float, if it is a number > 0."""
    number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not number or not value > 0:
        raise ValueError(f"{who}: {name} must be a positive number, got {value!r}")
    return float(value)


def number_in(who: str, name: str, value, lo: float, hi: float) -> float:
    """`value` as a float, if it is a number in [lo, hi]."""
    number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not number or not lo <= value <= hi:
        raise ValueError(f"{who}: {name} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def choice(who: str, name: str, value, options):
    """`value`, if it is one of `options`."""
    if value not in options:
        shown = ", ".join(repr(o) if isinstance(o, str) else str(o) for o in options)
        raise ValueError(f"{who}: {name} must be one of {shown}, got {value!r}")
    return value


def finite_floats(who: str, name: str, value) -> np.ndarray:
    """`value` as a float64 array, if it holds numbers and none is NaN or infinite."""
    x = np.asarray(value)
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{who}: {name} must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{who}: {name} must be finite (no NaN or inf)")
    return x
