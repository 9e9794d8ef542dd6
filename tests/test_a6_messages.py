"""Known mistakes in assignment a6, each run through its hidden tests in this process (the
grader's code with the source's answer cells, one of them changed): every mistake loses the
test it belongs to, and the message names what is wrong. The correct source passes them all.

The trained captioner and the SimCLR encoder need the notebook's training runs: their tests are
proved through nbgrader (tests/test_nbgrader.py, tests/test_a6_grading.py), not here.
"""

from __future__ import annotations

import pytest
from conftest import REPO

from autograder.hidden import _CURRENT, LocalSession, Namespace, Spec, reference

A = "a6_transformers"
UNTRAINED = ("test_attention_forward", "test_attention_backward", "test_mha_forward", "test_mha_backward",
             "test_positions", "test_captioner", "test_info_nce", "test_linear_probe")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    from dlcv.timing import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def grader():
    spec = Spec.find(REPO, A)
    tests = spec.load()
    return spec, tests, reference(spec, tests)


def student(grader, gid: str | None = None, old: str = "", new: str = "") -> dict:
    """The source's answer cells run in a fresh namespace, with `old` replaced by `new` in the
    cell `gid` (the text must be there: a mistake that changes nothing proves nothing)."""
    spec, tests, _ = grader
    ns: dict = {"__name__": "student"}
    exec(compile(tests.preamble, "<preamble>", "exec"), ns)  # noqa: S102 - the grader's preamble
    for cell_id, src in spec.reference_source():
        if cell_id == gid:
            assert src.count(old) == 1, f"{old!r} is not once in cell {gid}"
            src = src.replace(old, new)
        if cell_id.startswith("given_") and cell_id != "given_settings":
            continue
        exec(compile(src, f"<cell {cell_id}>", "exec"), ns)  # noqa: S102 - the source's cells
    return ns


def hidden(grader, test: str, ns: dict) -> dict[str, str]:
    """case -> message ("" when it passed) of one hidden test on the namespace ns."""
    _, tests, ref = grader
    out: list = []
    token = _CURRENT.set(out)
    try:
        tests.tests[test].func(Namespace(LocalSession(ns), tests.probes), ref)
    finally:
        _CURRENT.reset(token)
    return {c.case: c.message for c in out}


@pytest.mark.parametrize("test", UNTRAINED)
def test_the_source_passes_every_case(grader, test):
    cases = hidden(grader, test, student(grader))
    assert cases and not any(cases.values()), {k: v for k, v in cases.items() if v}


MISTAKES = {
    "no 1/sqrt(d) scale": ("attention", "/ math.sqrt(d)  # (N, Tq, Tk)", "  # (N, Tq, Tk)",
                           "test_attention_forward", "against the formula"),
    "a mask that zeroes the scores instead of -inf": (
        "attention", "scores = np.where(mask, scores, -np.inf)", "scores = np.where(mask, scores, 0.0)",
        "test_attention_forward", "mask"),
    "the softmax backward without its row sum": (
        "attention", "(dweights - (weights * dweights).sum(axis=-1, keepdims=True))", "dweights",
        "test_attention_backward", "dq"),
    "heads split without the transpose": (
        "multi_head_attention", "a.reshape(N, T, h, dh).transpose(0, 2, 1, 3).reshape(N * h, T, dh)",
        "a.reshape(N * h, T, dh)", "test_mha_forward", "heads"),
    "dctx without the values' path": (
        "multi_head_attention", "dctx = dK @ params[\"Wk\"].T + dV @ params[\"Wv\"].T",
        "dctx = dK @ params[\"Wk\"].T", "test_mha_backward", "dctx"),
    "sin and cos swapped": ("positions", "PE[:, 0::2] = np.sin(t * freq)\n    PE[:, 1::2] = np.cos(t * freq)",
                            "PE[:, 0::2] = np.cos(t * freq)\n    PE[:, 1::2] = np.sin(t * freq)",
                            "test_positions", "sinusoidal_positions"),
    "the causal mask above the diagonal": ("positions", "np.tril(np.ones((T, T), dtype=bool))",
                                           "np.triu(np.ones((T, T), dtype=bool))", "test_positions",
                                           "causal_mask"),
    "a captioner that sees the next word": ("captioner", "mask = torch.ones(T, T, dtype=torch.bool).tril()",
                                            "mask = torch.ones(T, T, dtype=torch.bool)", "test_captioner",
                                            "causal"),
    "sampling that keeps writing after <END>": (
        "captioner", "torch.where(done, torch.full_like(nxt, self.null), nxt)", "nxt", "test_captioner",
        "<END>"),
    "InfoNCE with the self-similarity set to 0": (
        "info_nce", 'sim.masked_fill(torch.eye(2 * N, dtype=torch.bool), float("-inf"))',
        "sim.masked_fill(torch.eye(2 * N, dtype=torch.bool), 0.0)", "test_info_nce", "info_nce"),
    "InfoNCE without normalising": ("info_nce", "u = F.normalize(torch.cat([z1, z2]), dim=1)",
                                    "u = torch.cat([z1, z2])", "test_info_nce", "normalised"),
    "a probe that does not standardise": ("linear_probe", "X, Xt = (X - mean) / std, (Xt - mean) / std", "",
                                          "test_linear_probe", "standardise"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_loses_its_test_and_says_why(grader, mistake):
    gid, old, new, test, word = MISTAKES[mistake]
    cases = hidden(grader, test, student(grader, gid, old, new))
    failed = {k: v for k, v in cases.items() if v}
    assert failed, f"{mistake}: every case of {test} passed"
    assert any(word.lower() in (k + " " + v).lower() for k, v in failed.items()), failed
