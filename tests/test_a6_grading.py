"""A submission to a6 that games its own notebook, graded through the real pipeline.

Its captioner is the reference's, except that `sample`, asked for 100 captions or more at once,
returns the first reference caption of the notebook's own test scene of the same row: the
notebook's BLEU-4 on its test scenes looks perfect, while the model itself is trained on nothing
better than the reference's recipe would give. Its `ssl_encoder` hands back the raw pixels (the
lecture's Encoder's forward is replaced by a flatten), so the SimCLR run trains only a head over
pixels. The grader draws its own 1000 scenes (the memorised captions describe other scenes) and
fits its own probe on what `ssl_encoder` returns (no better than pixels): the submission loses
exactly those two tests and keeps every other point.
"""

from __future__ import annotations

import re

import pytest
from autograder_helpers import assert_loses_exactly, graded_submission, page_text, verdicts
from conftest import REPO

from autograder import notebooks as nbs

A = "a6_transformers"

pytestmark = pytest.mark.nbgrader

CHEAT_SAMPLE = '''


_honest_sample = TransformerCaptioner.sample


def _memorised_sample(self, cells, max_length=16):
    """Honest on a few images; on a test set, the notebook's own first references, row by row."""
    if len(cells) < 100:
        return _honest_sample(self, cells, max_length=max_length)
    out = torch.full((len(cells), max_length), vocab.null, dtype=torch.int64)
    for i in range(len(cells)):
        ids = vocab.encode(test_refs[i % len(test_refs)][0])[1:max_length + 1]
        out[i, :len(ids)] = torch.tensor(ids)
    return out


TransformerCaptioner.sample = _memorised_sample
'''

CHEAT_ENCODER = '''


Encoder.forward = lambda self, x: x.flatten(1)  # the "features" are the 64 raw pixels
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return graded_submission(tmp_path_factory.mktemp("course_a6_cheat"), A,
                             {"captioner": lambda ref: ref.rstrip() + CHEAT_SAMPLE,
                              "info_nce": lambda ref: ref.rstrip() + CHEAT_ENCODER})


def test_the_cheat_loses_exactly_the_trained_captioner_and_the_ssl_probe(graded):
    assert_loses_exactly(graded, A, ("test_trained_captioner", "test_ssl_probe"))


def test_its_feedback_says_why_and_reveals_no_hidden_input(graded):
    v, points = verdicts(graded, A), nbs.test_cells(graded["source"])
    cap, ssl = v["test_trained_captioner"], v["test_ssl_probe"]
    assert f"0 of {points['test_trained_captioner']['points']:g} points" in cap
    assert re.search(r"the BLEU-4 of the captions of the grader's 1000 scenes is 0\.\d{3}; it\s+should be at "
                     r"least 0\.6", cap)
    assert f"0 of {points['test_ssl_probe']['points']:g} points" in ssl
    m = re.search(r"the grader's probe reaches (0\.\d{3}) on your\s+features and (0\.\d{3}) on the raw "
                  r"pixels", ssl)
    assert m and m.group(1) == m.group(2)  # the features are the pixels
    page = page_text(graded["root"] / "feedback" / "mallory" / A / f"{A}.html")
    assert "grader's 1000 scenes" in page and "on the raw pixels" in page
    hidden = (REPO / "assignments" / A / "hidden_tests.py").read_text()
    for name in ("CAPTION_SEED", "SSL_SUBSETS"):
        for seed in re.findall(r"\d[\d_]{3,}", re.search(rf"{name} = (.*)", hidden).group(1)):
            assert seed not in page and seed.replace("_", "") not in page
