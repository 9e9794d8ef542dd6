"""Probes of assignment a4: the torch part's functions called on tensors made from the grader's
arrays, and the detector trained in the notebook run on the test scenes.

Each returns what it saw as plain data (tensors as numpy arrays, with their type names where the
type matters); the hidden tests (trusted) judge it. This module is also imported by the
numpy-only kernel of the isolated part, so torch is imported only inside the functions that
need it.
"""

from __future__ import annotations

import numpy as np


def _plain(v):
    """`v` with every torch tensor in it as a numpy array (detached); lists, tuples and dicts
    converted inside; anything else as it is."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    if type(v) is list:
        return [_plain(x) for x in v]
    if type(v) is tuple:
        return tuple(_plain(x) for x in v)
    if type(v) is dict:
        return {k: _plain(x) for k, x in v.items()}
    return v


def _tensor(x, dtype=None, grad=False):
    import torch

    t = torch.as_tensor(np.array(x))
    if dtype is not None:
        t = t.to(getattr(torch, dtype))
    return t.requires_grad_() if grad else t


def box_iou_shape(ns, boxes1, boxes2):
    """The shape of the student's box_iou(boxes1, boxes2), without handing the matrix back (the
    grader times this call)."""
    return tuple(int(n) for n in np.shape(ns["box_iou"](boxes1, boxes2)))


def elementwise_loss(ns, name, x, *others, dtype="float32", dout=None, **kwargs):
    """The student's `name` (smooth_l1 or sigmoid_focal_loss) on tensors of `dtype` made from x
    (with a gradient) and `others` (targets). Returns {"type": the result's type name, "value":
    its values, "grad": d(sum(result * dout)) / dx or None, "grad_error": why autograd failed}."""
    import torch

    xt = _tensor(x, dtype, grad=True)
    out = ns[name](xt, *[_tensor(o, dtype) for o in others], **kwargs)
    seen = {"type": type(out).__name__, "value": _plain(out), "grad": None, "grad_error": None}
    if dout is not None and isinstance(out, torch.Tensor):
        try:
            (g,) = torch.autograd.grad(out, xt, _tensor(dout).to(out.dtype))
            seen["grad"] = g.numpy()
        except RuntimeError as e:
            seen["grad_error"] = str(e).splitlines()[0][:300]
    return seen


def flatten_run(ns, cls_map, box_map, num_anchors):
    """The student's flatten_predictions on tensors made from the two maps (their dtype).
    Returns (the type names of the result's items, the result with tensors as arrays)."""
    out = ns["flatten_predictions"](_tensor(cls_map), _tensor(box_map), num_anchors)
    kinds = [type(x).__name__ for x in out] if isinstance(out, (tuple, list)) else type(out).__name__
    return kinds, _plain(out)


def detection_loss_run(
    ns, cls_logits, box_deltas, anchors, gt_boxes, gt_labels, *args, grads=False, **kwargs
):
    """The student's detection_loss on float32 tensors made from cls_logits and box_deltas.
    Returns {"types", "values": (cls_loss, box_loss) as floats, and with `grads` "grad_cls" and
    "grad_box": the gradients of cls_loss + box_loss (zeros where a tensor was not used), or
    "grad_error"}."""
    import torch

    z, d = _tensor(cls_logits, "float32", grad=grads), _tensor(box_deltas, "float32", grad=grads)
    out = ns["detection_loss"](z, d, anchors, gt_boxes, gt_labels, *args, **kwargs)
    seen = {
        "types": [type(x).__name__ for x in out] if isinstance(out, (tuple, list)) else type(out).__name__,
        "values": _plain(out),
        "grad_cls": None,
        "grad_box": None,
        "grad_error": None,
    }
    if (
        grads
        and isinstance(out, (tuple, list))
        and len(out) == 2
        and all(isinstance(x, torch.Tensor) for x in out)
    ):
        try:
            gz, gd = torch.autograd.grad(out[0] + out[1], (z, d), allow_unused=True)
            seen["grad_cls"] = np.zeros(z.shape, np.float32) if gz is None else gz.numpy()
            seen["grad_box"] = np.zeros(d.shape, np.float32) if gd is None else gd.numpy()
        except RuntimeError as e:
            seen["grad_error"] = str(e).splitlines()[0][:300]
    return seen


def postprocess_run(ns, cls_logits, box_deltas, anchors, image_size, *args, **kwargs):
    """The student's postprocess on tensors made from cls_logits and box_deltas (their dtype).
    Returns its result with tensors as arrays."""
    return _plain(
        ns["postprocess"](_tensor(cls_logits), _tensor(box_deltas), anchors, image_size, *args, **kwargs)
    )


def notebook_detections(ns):
    """The notebook's `test_detections` (what its detector predicted for the test scenes), with
    tensors as arrays."""
    if "test_detections" not in ns:
        raise NameError("test_detections is not defined: the evaluation cell (after the training) did not "
                        "run to its end")
    return _plain(ns["test_detections"])


def trained_detector(ns, images, loss_images, loss_boxes, loss_labels):
    """The notebook's `detector` on images the grader sends (scenes the notebook has never seen):
    {"detector": whether there is one, "trained": whether the training cell finished (`history`
    is set), "detections": detector.predict(images) with tensors as arrays, "loss":
    detector.loss on the loss_* scenes, as floats}. Without a detector, a fresh ShapesDetector
    runs loss and predict on two scenes first, so that an answer they need and that fails says
    so."""
    import torch

    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    loss_images = torch.as_tensor(np.asarray(loss_images, dtype=np.float32))
    det = ns.get("detector")
    if det is None:
        torch.manual_seed(0)
        fresh = ns["ShapesDetector"]()
        fresh.loss(loss_images[:2], loss_boxes[:2], loss_labels[:2])
        fresh.predict(images[:2])
        return {"detector": False, "trained": False, "detections": None, "loss": None}
    detections = _plain(det.predict(images))
    with torch.no_grad():
        loss = det.loss(loss_images, loss_boxes, loss_labels)
    return {
        "detector": True,
        "trained": ns.get("history") is not None,
        "detections": detections,
        "loss": [float(x) for x in loss],
    }
