"""Probes of assignment a5: harnesses around the student's CaptioningRNN and layers.

Each returns what it saw (a model, as a handle, or plain data); the hidden tests (trusted) judge
it. Only numpy here: the probes run in the numpy-only kernel of the isolated part too.
"""

from __future__ import annotations

import numpy as np


def make_model(ns, word_to_idx, cell_type, input_dim, wordvec_dim, hidden_dim, dtype="float64", seed=0,
               params=None):
    """The student's CaptioningRNN(word_to_idx, ...) with dtype np.<dtype>; then, as the notebook's
    tests do, model.params[name] = value for every entry of `params` (some or all of them)."""
    model = ns["CaptioningRNN"](word_to_idx, input_dim=input_dim, wordvec_dim=wordvec_dim,
                                hidden_dim=hidden_dim, cell_type=cell_type, dtype=np.dtype(dtype).type,
                                seed=seed)
    for name, value in (params or {}).items():
        model.params[name] = value
    return model


def model_loss(ns, word_to_idx, cell_type, input_dim, wordvec_dim, hidden_dim, dtype, params, features,
               captions):
    """The loss of CaptioningRNN.loss(features, captions) for a model holding `params`."""
    model = make_model(ns, word_to_idx, cell_type, input_dim, wordvec_dim, hidden_dim, dtype, 0, params)
    return model.loss(features, captions)[0]


def without_overflow(ns, name, *args):
    """ns[name](*args) with numpy's overflow warnings raised as FloatingPointError."""
    with np.errstate(over="raise"):
        return ns[name](*args)


def overfit(ns, given_training: str, cell_type, word_to_idx, features, tokens, image_index, steps=200,
            batch_size=25, learning_rate=1e-2, seed=0):
    """The notebook's memorisation run: CaptioningRNN(word_to_idx, D, 64, 128, cell_type, seed=0),
    init_captioner_weights(model, seed=5), then train_captioner, both from `given_training`: the
    source of the notebook's given cell, sent by the grader and run here afresh (over a copy of
    the notebook's names), so a notebook that redefines the given loop changes nothing. Returns
    (model.params, the minibatch losses)."""
    given = dict(ns)
    exec(compile(given_training, "<given cell given_training>", "exec"), given)  # noqa: S102 - given code, in the sandbox
    model = ns["CaptioningRNN"](word_to_idx, features.shape[1], 64, 128, cell_type=cell_type, seed=0)
    given["init_captioner_weights"](model, seed=5)
    losses = given["train_captioner"](model, features, tokens, image_index, steps, batch_size=batch_size,
                                      learning_rate=learning_rate, seed=seed, progress=False)
    return dict(model.params), losses
