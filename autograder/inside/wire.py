"""Plain data across the sandbox's wall: the one format both sides of grading speak.

A value is encoded as JSON text in which
- None, bools, ints, floats (NaN and infinities included) and strings stand as themselves;
- a list is a JSON list; a tuple is {"$t": [...]}; a dict, whatever its keys, is
  {"$d": [[key, value], ...]};
- an ndarray is {"$a": "<base64 of its .npy bytes>"}, a numpy scalar {"$n": "<the same, 0-d>"};
  only plain dtypes cross: booleans, integers, floats, complex numbers and unicode strings
  (never objects, structured records or pickles);
- an object that is none of these can cross only as a handle, {"$h": id, "$type": "Name"}: the
  number under which the sandbox keeps it (its class name is for messages only).

Decoding is strict: anything else is a WireError, arrays come back as base `np.ndarray` (no
subclass survives: their bytes are read by `np.lib.format.read_array(allow_pickle=False)`), and
sizes are bounded. The trusted grader decodes what the sandbox says with this module, so a
student's code can hand back only numbers, strings and arrays, however it was written.
"""

from __future__ import annotations

import base64
import io
import json
import numbers

import numpy as np

PLAIN_KINDS = "biufcU"  # bool, signed and unsigned int, float, complex, unicode string
MAX_TEXT = 256 * 2**20  # the longest message either side reads, in characters
MAX_DEPTH = 64


class WireError(ValueError):
    """A value that cannot cross the sandbox's wall, or a message that is not plain data."""


class Handle:
    """An object that stays on the sandbox's side, known to the other side by its number."""

    __slots__ = ("id", "type")

    def __init__(self, id: int, type: str = "object"):
        self.id, self.type = int(id), str(type)

    def __repr__(self) -> str:
        return f"<{self.type} object in the sandbox #{self.id}>"


def _npy(a: np.ndarray) -> str:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plain_array(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype.kind not in PLAIN_KINDS or a.dtype.fields is not None:
        raise WireError(f"{what} has dtype {a.dtype}, which cannot be handed back: use numbers "
                        "(bool, int, float, complex) or strings")
    return a if a.flags.c_contiguous else a.copy(order="C")


def encode(value, keep=None) -> str:
    """JSON text for `value`. `keep(obj) -> Handle` keeps an object that is not plain data (the
    sandbox's side); without it such an object is a WireError."""

    def enc(v, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, Handle):
            return {"$h": v.id, "$type": v.type}
        if isinstance(v, np.ndarray):
            return {"$a": _npy(_plain_array(np.asarray(v), "an array"))}
        if isinstance(v, np.generic):
            return {"$n": _npy(_plain_array(np.asarray(v), "a numpy scalar"))}
        if type(v) is int or type(v) is float:
            return v
        if type(v) is list:
            return [enc(x, depth + 1) for x in v]
        if type(v) is tuple:
            return {"$t": [enc(x, depth + 1) for x in v]}
        if type(v) is dict:
            return {"$d": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if isinstance(v, numbers.Integral):
            return int(v)
        if isinstance(v, numbers.Real):
            return float(v)
        if keep is not None:
            h = keep(v)
            return {"$h": h.id, "$type": h.type}
        raise WireError(f"a value of type {type(v).__name__} cannot be handed over")

    return json.dumps(enc(value, 0), allow_nan=True, separators=(",", ":"))


def _read_npy(text, what: str) -> np.ndarray:
    if not isinstance(text, str):
        raise WireError(f"{what}: not base64 text")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        buf = io.BytesIO(raw)
        version = np.lib.format.read_magic(buf)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(buf)
        # the header says how much data follows: believe it only if the data is there (numpy
        # would allocate what the header claims before reading)
        if dtype.hasobject or int(np.prod(shape, dtype=object)) * dtype.itemsize > len(raw) - buf.tell():
            raise ValueError(f"the header claims {shape} of {dtype}, more than the data it holds")
        buf.seek(0)
        a = np.lib.format.read_array(buf, allow_pickle=False)
    except (ValueError, TypeError, OSError, EOFError, UnicodeEncodeError, MemoryError, KeyError) as e:
        raise WireError(f"{what}: not an array in .npy format ({e})") from None
    if type(a) is not np.ndarray:  # read_array makes base arrays; be sure
        a = np.array(a)
    return _plain_array(a, what)


def decode(text: str, resolve=None, max_chars: int = MAX_TEXT):
    """The value that `text` (from `encode`) stands for. `resolve(Handle) -> object` turns
    handles into the objects they name (the sandbox's side); without it they stay Handles."""
    if not isinstance(text, str):
        raise WireError(f"a message must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise WireError(f"the message is {len(text):,} characters long, over the limit of "
                        f"{max_chars:,}")
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise WireError(f"the message is not JSON: {e}") from None

    def dec(v, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
        if v is None or isinstance(v, (bool, str, int)):
            return v
        if isinstance(v, float):
            return v
        if isinstance(v, list):
            return [dec(x, depth + 1) for x in v]
        if not isinstance(v, dict) or len(v) not in (1, 2):
            raise WireError(f"unexpected JSON value {str(v)[:80]!r}")
        if "$a" in v and len(v) == 1:
            return _read_npy(v["$a"], "an array")
        if "$n" in v and len(v) == 1:
            a = _read_npy(v["$n"], "a numpy scalar")
            if a.ndim != 0:
                raise WireError("a numpy scalar must be 0-dimensional")
            return a[()]
        if "$t" in v and len(v) == 1 and isinstance(v["$t"], list):
            return tuple(dec(x, depth + 1) for x in v["$t"])
        if "$d" in v and len(v) == 1 and isinstance(v["$d"], list):
            out = {}
            for pair in v["$d"]:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("a dict entry must be a [key, value] pair")
                key = dec(pair[0], depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise WireError(f"a dict key of type {type(key).__name__} is not hashable") from None
                out[key] = dec(pair[1], depth + 1)
            return out
        if "$h" in v and isinstance(v["$h"], int) and not isinstance(v["$h"], bool):
            h = Handle(v["$h"], str(v.get("$type", "object"))[:100])
            return resolve(h) if resolve is not None else h
        raise WireError(f"unexpected JSON object with keys {sorted(v)[:4]}")

    return dec(tree, 0)
