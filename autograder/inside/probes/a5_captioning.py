"""Probes of assignment a5: harnesses around the student's CaptioningRNN and layers.

Each returns what it saw (a model, as a handle, or plain data); the hidden tests (trusted) judge
it. Only numpy here: the probes run in the numpy-only kernel of the isolated part too.
"""

from __future__ import annotations

import math

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


# The notebook's given training code (cell given_training), copied: a notebook that redefines it
# changes nothing here.
def _adam(w, dw, config):
    for k, v in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8)):
        config.setdefault(k, v)
    m, v, t = config.get("m", np.zeros_like(w)), config.get("v", np.zeros_like(w)), config.get("t", 0) + 1
    m = config["beta1"] * m + (1 - config["beta1"]) * dw
    v = config["beta2"] * v + (1 - config["beta2"]) * dw**2
    m_hat, v_hat = m / (1 - config["beta1"] ** t), v / (1 - config["beta2"] ** t)
    config.update(m=m, v=v, t=t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


def _init_captioner_weights(model, seed):
    rng = np.random.default_rng(seed)
    for name in sorted(model.params):
        shape = model.params[name].shape
        if len(shape) == 1:
            w = np.zeros(shape)
        elif name == "W_embed":
            w = 0.1 * rng.standard_normal(shape)
        else:
            w = rng.standard_normal(shape) / np.sqrt(shape[0])
        model.params[name] = w.astype(model.dtype)


def _train_captioner(model, features, tokens, image_index, steps, batch_size=64, learning_rate=5e-3, seed=0):
    rng = np.random.default_rng(seed)
    null = model.word_to_idx["<NULL>"]
    configs = {name: {} for name in model.params}
    losses = []
    for it in range(steps):
        batch = rng.integers(0, len(tokens), size=batch_size)
        captions = tokens[batch]
        length = int((captions != null).sum(axis=1).max())
        loss, grads = model.loss(features[image_index[batch]], captions[:, :length])
        lr = learning_rate * 0.5 * (1 + math.cos(math.pi * it / steps))
        for name, w in model.params.items():
            configs[name]["learning_rate"] = lr
            dw = np.asarray(grads[name], dtype=w.dtype)
            model.params[name], configs[name] = _adam(w, dw, configs[name])
        losses.append(float(loss))
    return losses


def overfit(ns, cell_type, word_to_idx, features, tokens, image_index, steps=200, batch_size=25,
            learning_rate=1e-2, seed=0):
    """The notebook's memorisation run: CaptioningRNN(word_to_idx, D, 64, 128, cell_type, seed=0),
    init_captioner_weights(model, seed=5), then the given training loop. Returns (model.params,
    the minibatch losses)."""
    model = ns["CaptioningRNN"](word_to_idx, features.shape[1], 64, 128, cell_type=cell_type, seed=0)
    _init_captioner_weights(model, seed=5)
    losses = _train_captioner(model, features, tokens, image_index, steps, batch_size=batch_size,
                              learning_rate=learning_rate, seed=seed)
    return dict(model.params), losses
