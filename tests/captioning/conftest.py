"""Shared by the tests of lecture 13's modules: a small caption data set, tiny captioners, and
one that memorised a caption for each of three images."""

import numpy as np
import pytest
import torch

from dlcv.captioning import captioners as cap
from dlcv.captioning.captions import make_caption_data


@pytest.fixture(scope="session")
def data():
    return make_caption_data(12, seed=3)


def _small_attention(V, C=6, seed=0):
    torch.manual_seed(seed)
    return cap.AttentionCaptioner(V, C, embed_dim=8, hidden_dim=16, attention_dim=8).eval()


def _small_showtell(V, D=5, seed=0, use_image=True):
    torch.manual_seed(seed)
    return cap.ShowTellCaptioner(V, D, embed_dim=8, hidden_dim=16, use_image=use_image).eval()


@pytest.fixture(scope="session")
def memorised(data):
    """A tiny attention captioner that learned one caption for each of three images."""
    V = len(data.vocab)
    model = _small_attention(V, seed=1)
    torch.manual_seed(1)
    feats = torch.randn(3, 6, 8, 8)
    rows = [int(np.flatnonzero(data.image_index == i)[0]) for i in range(3)]
    hist = cap.train_captioner(model, feats, data.tokens[rows], np.arange(3), steps=250,
                               batch_size=3, lr=2e-2, progress=False)
    return model, feats, [data.tokens[r] for r in rows], hist
