"""What crosses the sandbox's wall (autograder/inside/wire.py): plain data only, strictly read."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from autograder.inside import wire


def roundtrip(v):
    return wire.decode(wire.encode(v))


def test_plain_values_cross_as_they_are():
    v = {"a": [1, 2.5, None, True, "s"], (1, 2): (np.float32(1.5), np.int64(3)), 3: {"nested": []},
         "x": np.arange(6.0).reshape(2, 3), "nan": float("nan"), "empty": np.zeros((0, 4), np.int8)}
    back = roundtrip(v)
    assert set(back) == set(v) and back["a"] == v["a"] and back[3] == {"nested": []}
    assert back[(1, 2)] == (1.5, 3) and type(back[(1, 2)][0]) is np.float32
    np.testing.assert_array_equal(back["x"], v["x"])
    assert np.isnan(back["nan"]) and back["empty"].shape == (0, 4) and back["empty"].dtype == np.int8


def test_an_ndarray_subclass_comes_back_a_plain_array_with_its_values():
    class Yes(np.ndarray):
        def __eq__(self, other):
            return np.ones(self.shape, bool)

    back = roundtrip(np.zeros(3).view(Yes))
    assert type(back) is np.ndarray and not np.any(back == 1)


def test_what_is_not_plain_data_does_not_cross():
    with pytest.raises(wire.WireError, match="dtype object"):
        wire.encode(np.array([object()]))
    with pytest.raises(wire.WireError, match="cannot be handed over"):
        wire.encode({1, 2})
    with pytest.raises(wire.WireError, match="nested more than"):
        deep = []
        for _ in range(100):
            deep = [deep]
        wire.encode(deep)
    kept = []
    h = wire.decode(wire.encode(object(), keep=lambda o: kept.append(o) or wire.Handle(7, "object")))
    assert isinstance(h, wire.Handle) and h.id == 7 and len(kept) == 1


@pytest.mark.parametrize("text, match", [
    ('{"$a": "not base64!"}', "not an array"),
    ('{"$x": 1}', "unexpected JSON object"),
    ('{"$d": [[[1], 2]]}', "not hashable"),
    ("[" * 5000 + "]" * 5000, "not JSON|nested"),
    ('{"$n": "' + base64.b64encode(b"\x93NUMPY garbage").decode() + '"}', "not an array"),
])
def test_malformed_messages_are_refused(text, match):
    with pytest.raises(wire.WireError, match=match):
        wire.decode(text)


def test_an_array_header_that_claims_more_than_its_data_is_refused():
    header = np.lib.format.header_data_from_array_1_0(np.zeros(2))
    header["shape"] = (10**11,)  # 800 GB, with 16 bytes of data
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(np.zeros(2).tobytes())
    with pytest.raises(wire.WireError, match="more than the data it holds"):
        wire.decode(json.dumps({"$a": base64.b64encode(buf.getvalue()).decode()}))


def test_a_message_over_the_limit_is_refused():
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.decode(wire.encode(np.zeros(1000)), max_chars=100)
