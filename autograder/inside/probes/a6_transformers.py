"""Probes of assignment a6: the student's torch code called on tensors made here from the
grader's arrays, and the notebook's trained `captioner` and `ssl_encoder` asked for captions,
attention weights and features.

Each probe returns what it saw as plain data (tensors as numpy arrays, with their type names,
dtypes and shapes); the hidden tests (trusted) judge it. Models the grader wants built cross the
wall as a seed and sizes (a TransformerCaptioner is the student's own class: the grader cannot
send its weights, so it checks properties that hold for any weights: shapes, causality, rows of
attention weights, greedy decoding against the model's own forward pass).

torch is imported inside the functions, so that importing this module needs only numpy (the
isolated numpy part's kernel has no torch; none of its tests calls a probe).
"""

from __future__ import annotations

import numpy as np


def _tensor(x, dtype: str | None = None, grad: bool = False):
    import torch

    t = torch.as_tensor(np.array(x))
    if dtype is not None:
        t = t.to(getattr(torch, dtype))
    return t.requires_grad_() if grad else t


def _describe(out) -> dict:
    """What a function returned: {"type", "value" (arrays for tensors), "dtype", "shape",
    "graph": whether the result still requires grad}."""
    import torch

    seen = {"type": type(out).__name__, "value": None, "dtype": None, "shape": None, "graph": False}
    if isinstance(out, torch.Tensor):
        seen.update(value=out.detach().cpu().numpy(), dtype=str(out.dtype).removeprefix("torch."),
                    shape=tuple(int(n) for n in out.shape), graph=bool(out.requires_grad))
    elif isinstance(out, (np.ndarray, np.generic, int, float)):
        seen["value"] = np.asarray(out)
        seen["shape"] = tuple(np.shape(out))
    return seen


# ------------------------------------------------------------------------------------------
# Part 3: InfoNCE and the linear probe
# ------------------------------------------------------------------------------------------
def info_nce_run(ns, z1, z2, tau=None, dtype: str = "float32"):
    """The student's info_nce(z1, z2) (or with tau=tau) on tensors of `dtype` with gradients.
    Returns _describe of the loss, "grads": [d loss / d z1, d loss / d z2] (or None) and
    "grad_error"."""
    import torch

    a, b = _tensor(z1, dtype, grad=True), _tensor(z2, dtype, grad=True)
    out = ns["info_nce"](a, b) if tau is None else ns["info_nce"](a, b, tau=float(tau))
    seen = _describe(out)
    seen["grads"], seen["grad_error"] = None, None
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        if not out.requires_grad:
            seen["grad_error"] = "the result does not depend on z1 and z2 through autograd (it was detached)"
        else:
            try:
                gs = torch.autograd.grad(out.reshape(()), [a, b], allow_unused=True)
                seen["grads"] = [np.zeros(tuple(t.shape)) if g is None else g.numpy()
                                 for g, t in zip(gs, (a, b), strict=True)]
            except RuntimeError as e:
                seen["grad_error"] = str(e).splitlines()[0][:300]
    return seen


def linear_probe_run(ns, train_feats, train_labels, test_feats, **kwargs):
    """The student's linear_probe(train_feats, train_labels, test_feats, **kwargs) on float32
    feature tensors and int64 label tensors; _describe of the predictions."""
    out = ns["linear_probe"](_tensor(train_feats, "float32"), _tensor(train_labels, "int64"),
                             _tensor(test_feats, "float32"), **kwargs)
    return _describe(out)


def ssl_features(ns, X, batch_size: int = 500):
    """The notebook's `ssl_encoder` on the images X (N, C, S, S) float32, in eval mode and
    without gradients, in batches: {"type": the encoder's type name, "value": (N, F) features
    (each image's output flattened), "dtype"}; the encoder's mode is restored afterwards."""
    import torch
    from torch import nn

    enc = ns["ssl_encoder"]
    if not isinstance(enc, nn.Module):
        return {"type": type(enc).__name__, "value": None, "dtype": None}
    was = enc.training
    enc.eval()
    x = _tensor(X, "float32")
    try:
        with torch.no_grad():
            parts = [enc(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    finally:
        enc.train(was)
    for p in parts:
        if not isinstance(p, torch.Tensor):
            return {"type": type(p).__name__, "value": None, "dtype": None}
    out = torch.cat([p.reshape(len(p), -1) for p in parts]).double()
    return {"type": "Tensor", "value": out.numpy(), "dtype": str(parts[0].dtype).removeprefix("torch.")}


# ------------------------------------------------------------------------------------------
# Part 2: the transformer captioner
# ------------------------------------------------------------------------------------------
def _vocab(words: list[str]):
    from dlcv.captioning.captions import Vocabulary

    vocab = Vocabulary(words)
    if vocab.idx_to_word != list(words):
        raise RuntimeError("the vocabulary sent by the grader does not rebuild in the same order")
    return vocab


def _output_layer(model, V: int):
    """The last nn.Linear of the model with V outputs and a bias (its output layer), or None."""
    from torch import nn

    found = None
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.out_features == V and m.bias is not None:
            found = m
    return found


def _greedy(model, cells, start: int, end: int, null: int, max_length: int):
    """Greedy decoding by the model's own forward pass: word t+1 is the argmax of the logits at
    position t for <START> w_1..w_t; <NULL> after <END>."""
    import torch

    N = len(cells)
    seq = torch.full((N, 1), start, dtype=torch.int64)
    done = torch.zeros(N, dtype=torch.bool)
    out = torch.full((N, max_length), null, dtype=torch.int64)
    for t in range(max_length):
        w = model(cells, seq)[:, -1].argmax(-1)
        out[:, t] = torch.where(done, torch.full_like(w, null), w)
        done |= w == end
        seq = torch.cat([seq, w[:, None]], 1)
    return out


def captioner_run(ns, words: list[str], sizes: dict, seed: int, cells, captions_in, changed_from: int,
                  max_length: int, end_shift: float | None = None):
    """A TransformerCaptioner(vocab, **sizes) built after torch.manual_seed(seed), in eval mode,
    asked for:

    - "logits": forward(cells, captions_in) (_describe), "logits_changed": forward on the same
      captions with every word from position `changed_from` on replaced (the causality check);
    - "attn": cross_attention(cells, captions_in) (_describe);
    - "sample": sample(cells, max_length) (_describe) and "greedy": the greedy captions computed
      here from the model's forward pass;
    - "end_sample", "end_greedy": the same after the output layer's <END> bias is raised by
      `end_shift` (so that some captions end early), when an output layer with V outputs and a
      bias is found ("end_layer": whether it was): by the 10% quantile of the gap between the
      best logit and <END>'s on captions_in, plus `end_shift`;
    - "uses_torch_mha": the names of nn.MultiheadAttention modules in the model."""
    import torch
    from torch import nn

    vocab = _vocab(words)
    torch.manual_seed(int(seed))
    model = ns["TransformerCaptioner"](vocab, **sizes)
    seen: dict = {"type": type(model).__name__, "uses_torch_mha": []}
    if not isinstance(model, nn.Module):
        return seen
    model.eval()
    seen["uses_torch_mha"] = [n for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    c = _tensor(cells, "float32")
    caps = _tensor(captions_in, "int64")
    changed = caps.clone()
    gen = torch.Generator().manual_seed(int(seed) + 1)
    changed[:, changed_from:] = torch.randint(4, len(vocab), changed[:, changed_from:].shape, generator=gen)
    with torch.no_grad():
        seen["logits"] = _describe(model(c, caps))
        seen["logits_changed"] = _describe(model(c, changed))
        seen["attn"] = _describe(model.cross_attention(c, caps))
        seen["sample"] = _describe(model.sample(c, max_length=int(max_length)))
        seen["greedy"] = _greedy(model, c, vocab.start, vocab.end, vocab.null, int(max_length)).numpy()
        layer = _output_layer(model, len(vocab))
        seen["end_layer"] = layer is not None
        if layer is not None and end_shift is not None:
            # raise <END> by the 10% quantile of its gap to the best logit (+ end_shift): about
            # one position in ten of random captions would pick it
            lg = model(c, caps)
            gap = (lg.max(-1).values - lg[..., vocab.end]).flatten().double().quantile(0.1)
            layer.bias[vocab.end] += float(gap) + float(end_shift)
            seen["end_sample"] = _describe(model.sample(c, max_length=int(max_length)))
            greedy = _greedy(model, c, vocab.start, vocab.end, vocab.null, int(max_length))
            seen["end_greedy"] = greedy.numpy()
    return seen


def trained_captions(ns, cells, captions_in, max_length: int = 16, batch_size: int = 100):
    """The notebook's trained `captioner` (eval mode, no gradients) on the grader's cells
    (N, 64, 25): "sample": its greedy captions (_describe of sample(cells, max_length)), and
    "attn": cross_attention(cells, captions_in) (_describe), both in batches; the model's mode
    is restored afterwards."""
    import torch
    from torch import nn

    model = ns["captioner"]
    if not isinstance(model, nn.Module):
        return {"type": type(model).__name__}
    was = model.training
    model.eval()
    c, caps = _tensor(cells, "float32"), _tensor(captions_in, "int64")
    seen: dict = {"type": type(model).__name__}
    try:
        with torch.no_grad():
            for key, fn, args in (("sample", model.sample, lambda i: (c[i:i + batch_size],)),
                                  ("attn", model.cross_attention,
                                   lambda i: (c[i:i + batch_size], caps[i:i + batch_size]))):
                parts = []
                for i in range(0, len(c), batch_size):
                    out = fn(*args(i), **({"max_length": int(max_length)} if key == "sample" else {}))
                    if not isinstance(out, torch.Tensor):
                        parts = out
                        break
                    parts.append(out)
                seen[key] = _describe(torch.cat(parts) if isinstance(parts, list) else parts)
    finally:
        model.train(was)
    return seen


def captioner_status(ns, words: list[str]):
    """Whether the notebook trained its `captioner`: {"captioner": an nn.Module, "type",
    "trained": the training cell finished (`cap_losses` is not None), "steps": len(cap_losses)}.
    When it did not, the student's TransformerCaptioner and train_captioner first run one step
    on a tiny model (so that, if they are not written or fail, their error is what the grader
    reports)."""
    import torch
    from torch import nn

    net, losses = ns.get("captioner"), ns.get("cap_losses")
    if not (losses is not None and isinstance(net, nn.Module)):
        vocab = _vocab(words)
        g = torch.Generator().manual_seed(0)
        caps = torch.randint(4, len(vocab), (4, 6), generator=g)
        caps[:, 0], caps[:, -1] = vocab.start, vocab.end
        model = ns["TransformerCaptioner"](vocab, D=8, heads=2, layers=1)
        ns["train_captioner"](model, torch.randn(4, 64, 25, generator=g), caps, 1, 4, 1e-3, g)
    try:
        steps = len(losses) if losses is not None else None
    except TypeError:
        steps = None
    return {"captioner": isinstance(net, nn.Module), "type": type(net).__name__,
            "trained": losses is not None, "steps": steps}


def ssl_status(ns):
    """Whether the notebook trained its `ssl_encoder`: {"encoder": an nn.Module, "type"}. When it
    did not, the student's info_nce first runs once on random embeddings (its error, if any, is
    what the grader reports)."""
    import torch
    from torch import nn

    enc = ns.get("ssl_encoder")
    if not isinstance(enc, nn.Module):
        g = torch.Generator().manual_seed(0)
        ns["info_nce"](torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g))
    return {"encoder": isinstance(enc, nn.Module), "type": type(enc).__name__}
