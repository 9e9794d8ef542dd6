"""Probes of assignment a7: the student's torch functions called on tensors and models made here
from the grader's arrays, and the notebook's trained `denoiser` asked for noise predictions.

Models cross the sandbox's wall as descriptions (a kind and its weights as arrays, see `model`):
the grader builds the same network on its side from the same description, so both sides run the
same weights. Each probe returns what it saw as plain data (tensors as numpy arrays, with their
type names, dtypes and whether they still carry a graph where that matters) and the side effects
the functions must not have (an input changed, gradients left in the model's parameters, hooks
left on its modules); the hidden tests (trusted) judge it.

`TinyEps` is the small noise predictor of the diffusion tests; the hidden tests import it from
here, so the network the grader describes is the one this side builds.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


# ------------------------------------------------------------------------------------------
# plain data and tensors
# ------------------------------------------------------------------------------------------
def _tensor(x, dtype: str | None = None, grad: bool = False) -> torch.Tensor:
    t = torch.as_tensor(np.array(x))
    if dtype is not None:
        t = t.to(getattr(torch, dtype))
    return t.requires_grad_() if grad else t


def _describe(out) -> dict:
    """What a function returned: {"type", "value" (arrays for tensors), "dtype", "shape",
    "graph": whether the result still requires grad (is attached to a graph)}."""
    seen = {"type": type(out).__name__, "value": None, "dtype": None, "shape": None, "graph": False}
    if isinstance(out, torch.Tensor):
        seen.update(value=out.detach().cpu().numpy(), dtype=str(out.dtype).removeprefix("torch."),
                    shape=tuple(int(n) for n in out.shape), graph=bool(out.requires_grad))
    elif isinstance(out, (np.ndarray, np.generic, int, float)):
        seen["value"] = np.asarray(out)
    return seen


# ------------------------------------------------------------------------------------------
# models from descriptions
# ------------------------------------------------------------------------------------------
class TinyEps(nn.Module):
    """A small fixed noise predictor eps(x_t, t) for the diffusion tests: x (N, 1, 8, 8) float32,
    t (N,) int64 in 1..T -> (N, 1, 8, 8) = 0.5 tanh(W x + b) + E[t] (E a table of one vector per
    time step). It refuses the inputs the notebook's TimeMLP could not take, with a message."""

    def __init__(self, T: int):
        super().__init__()
        self.T = int(T)
        self.lin = nn.Linear(64, 64)
        self.table = nn.Embedding(self.T + 1, 64)

    def forward(self, x, t):
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"the denoiser takes x_t of shape (N, 1, 8, 8), got {shape}")
        if x.dtype != torch.float32:
            raise ValueError(f"the denoiser takes x_t as float32, got {str(x.dtype)[6:]}: "
                             "convert it with .float()")
        if not isinstance(t, torch.Tensor) or t.dtype != torch.int64 or tuple(t.shape) != (len(x),):
            what = (f"a {str(t.dtype)[6:]} tensor of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor)
                    else type(t).__name__)
            raise ValueError(f"the denoiser takes t as an int64 tensor of shape ({len(x)},) (one time "
                             f"step per image, e.g. torch.full((N,), t)), got {what}")
        if len(t) and (int(t.min()) < 1 or int(t.max()) > self.T):
            raise ValueError(f"the denoiser takes time steps t in 1..{self.T}, got "
                             f"{int(t.min())}..{int(t.max())}")
        out = 0.5 * torch.tanh(self.lin(x.flatten(1))) + self.table(t)
        return out.view(x.shape)


class _TimeChecked(nn.Module):
    """A denoiser of the visible tests: eps_hat = 0 (`w` None) or w * x_t, called as model(x_t, t)
    with t an (N,) int64 tensor (anything else raises ValueError, with a message)."""

    def __init__(self, w: float | None = None):
        super().__init__()
        self.w = None if w is None else nn.Parameter(torch.tensor(float(w)))

    def forward(self, x, t):
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.int64 and tuple(t.shape) == (len(x),)):
            what = f"{str(t.dtype)[6:]} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"the model should be called with t as a ({len(x)},) int64 tensor, got {what}")
        return torch.zeros_like(x) if self.w is None else self.w * x


class _TwoStage(nn.Module):
    """The visible Grad-CAM case: a 1x1 convolution into [ReLU(x), ReLU(-x)] (`feat`), then a
    linear layer without bias (`head`) of the given weight (K, 2 * H * W)."""

    def __init__(self, weight):
        super().__init__()
        w = torch.as_tensor(np.asarray(weight, np.float32))
        self.feat = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(w.shape[1], w.shape[0], bias=False))
        with torch.no_grad():
            self.feat[0].weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
            self.head[1].weight.copy_(w)

    def forward(self, x):
        return self.head(self.feat(x))


def tiny_eps(T: int, seed: int) -> TinyEps:
    """TinyEps(T) with weights drawn from `seed` (the time table scaled to about 0.3)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = TinyEps(T)
        with torch.no_grad():
            net.table.weight.mul_(0.3)
    return net.eval()


def state_of(net: nn.Module) -> dict:
    """A network's weights as plain arrays (what crosses the wall)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def model(desc: dict) -> nn.Module:
    """The network a description names, in eval mode:

    - {"kind": "probe_cnn", "in_channels", "num_classes", "size", "state"}: lecture 16's ProbeCNN
      holding those weights;
    - {"kind": "linear", "weight": (K, D), "bias": (K,)}: flatten, then x @ weight.T + bias;
    - {"kind": "tiny_eps", "T", "state"}: TinyEps(T) holding those weights;
    - {"kind": "two_stage", "weight"}: the visible Grad-CAM case's network;
    - {"kind": "zero"} / {"kind": "scale", "w"}: the visible diffusion cases' denoisers, eps_hat = 0
      or w * x_t.
    """
    kind = desc["kind"]
    if kind == "probe_cnn":
        from dlcv.understanding.model import ProbeCNN

        net = ProbeCNN(desc["in_channels"], desc["num_classes"], desc["size"])
        net.load_state_dict({k: torch.as_tensor(np.array(v)) for k, v in desc["state"].items()})
    elif kind == "linear":
        w = np.asarray(desc["weight"], np.float32)
        net = nn.Sequential(nn.Flatten(), nn.Linear(w.shape[1], w.shape[0]))
        with torch.no_grad():
            net[1].weight.copy_(torch.as_tensor(w))
            net[1].bias.copy_(torch.as_tensor(np.asarray(desc["bias"], np.float32)))
    elif kind == "tiny_eps":
        net = TinyEps(desc["T"])
        net.load_state_dict({k: torch.as_tensor(np.array(v)) for k, v in desc["state"].items()})
    elif kind == "two_stage":
        net = _TwoStage(desc["weight"])
    elif kind in ("zero", "scale"):
        net = _TimeChecked(desc.get("w"))
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    return net.eval()


_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks")


def _hooks(net: nn.Module) -> int:
    """How many hooks are registered on the network's modules (and globally on all modules)."""
    import torch.nn.modules.module as mm

    n = sum(len(getattr(mm, name, {})) for name in _GLOBAL_HOOKS)
    for m in net.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            n += len(getattr(m, name, {}) or {})
    return n


def _watched(fn, net: nn.Module, x: torch.Tensor, args=(), kwargs=None, catch: bool = False) -> dict:
    """fn(net, x, *args, **kwargs) and its side effects: _describe of the result, plus
    "x_changed" (x's values), "x_requires_grad" (x's flag after the call), "grads_left" (names
    of the parameters whose .grad is set after the call; all were None before) and
    "hooks_left" (hooks added to the network's modules). With `catch`, an exception is returned
    as "raised": (its class names, its message) instead of raised."""
    before = x.detach().clone()
    for p in net.parameters():
        p.grad = None
    hooks = _hooks(net)
    seen: dict = {"raised": None}
    try:
        out = fn(net, x, *args, **(kwargs or {}))
    except Exception as e:
        if not catch:
            raise
        out = None
        seen["raised"] = ([c.__name__ for c in type(e).__mro__ if c is not object], str(e)[:300])
    seen.update(_describe(out))
    seen["x_changed"] = not torch.equal(x.detach(), before)
    seen["x_requires_grad"] = bool(x.requires_grad)
    seen["grads_left"] = [name for name, p in net.named_parameters() if p.grad is not None]
    seen["hooks_left"] = _hooks(net) - hooks
    return seen


# ------------------------------------------------------------------------------------------
# Parts 1 and 2: attribution and attacks
# ------------------------------------------------------------------------------------------
def attribution_run(ns, name: str, desc: dict, x, y, layer: str | None = None, catch: bool = False):
    """The student's saliency(model, x, y) or grad_cam(model, x, y, model.<layer>) on the model
    `desc` describes, x as float32 and y as int64 tensors; see _watched for what is returned."""
    net = model(desc)
    args = (_tensor(y, "int64"),) + ((getattr(net, layer),) if layer else ())
    return _watched(ns[name], net, _tensor(x, "float32"), args, catch=catch)


def attack_run(ns, name: str, desc: dict, x, y, *args, target=None, seed: int | None = None, **kwargs):
    """The student's fgsm(model, x, y, eps, target=None) or pgd(model, x, y, eps, steps, step_size,
    target=None, random_start=..., generator=...) on the model `desc` describes: x float32 and y,
    target int64 tensors; `seed` (pgd): generator=torch.Generator().manual_seed(seed). See
    _watched for what is returned."""
    net = model(desc)
    if target is not None:
        kwargs["target"] = _tensor(target, "int64")
    if seed is not None:
        kwargs["generator"] = torch.Generator().manual_seed(int(seed))
    return _watched(ns[name], net, _tensor(x, "float32"), (_tensor(y, "int64"), *args), kwargs)


# ------------------------------------------------------------------------------------------
# Parts 3 and 4: the VAE's and the GANs' losses
# ------------------------------------------------------------------------------------------
def _grads(out, inputs: list[torch.Tensor]) -> tuple[list | None, str | None]:
    """d out / d inputs (zeros for an input not used), or the reason autograd gave none."""
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        return None, None
    if not out.requires_grad:
        return None, "the result does not depend on the inputs through autograd (it was detached)"
    try:
        gs = torch.autograd.grad(out.reshape(()), inputs, allow_unused=True)
    except RuntimeError as e:
        return None, str(e).splitlines()[0][:300]
    return [np.zeros(tuple(i.shape), np.float32) if g is None else g.numpy()
            for g, i in zip(gs, inputs, strict=True)], None


def loss_run(ns, name: str, *arrays, dtype: str = "float32"):
    """The student's `name` (discriminator_loss, generator_loss, ls_discriminator_loss,
    ls_generator_loss) on tensors of `dtype` made from `arrays` (with gradients). Returns
    _describe of the result, "grads": its gradient with respect to each input (or None) and
    "grad_error"."""
    inputs = [_tensor(a, dtype, grad=True) for a in arrays]
    out = ns[name](*inputs)
    seen = _describe(out)
    seen["grads"], seen["grad_error"] = _grads(out, inputs)
    return seen


def vae_run(ns, logits, x, mu, logvar, dtype: str = "float32"):
    """The student's vae_loss(logits, x, mu, logvar) (logits, mu, logvar with gradients).
    Returns {"type": the result's type name, "parts": _describe of each item (loss, recon, kl)
    when it is a tuple or list, "grads": d loss / d (logits, mu, logvar) or None, "grad_error"}."""
    lg, mu_t, lv = (_tensor(a, dtype, grad=True) for a in (logits, mu, logvar))
    out = ns["vae_loss"](lg, _tensor(x, dtype), mu_t, lv)
    seen = {"type": type(out).__name__, "parts": None, "grads": None, "grad_error": None}
    if isinstance(out, (tuple, list)):
        seen["parts"] = [_describe(o) for o in out]
        if len(out) == 3:
            seen["grads"], seen["grad_error"] = _grads(out[0], [lg, mu_t, lv])
    return seen


def reparameterize_run(ns, mu, logvar, eps, dout, dtype: str = "float32"):
    """The student's reparameterize(mu, logvar, eps) (mu and logvar with gradients). Returns
    _describe of z, "grads": d sum(z * dout) / d (mu, logvar) or None, "grad_error"."""
    mu_t, lv = _tensor(mu, dtype, grad=True), _tensor(logvar, dtype, grad=True)
    z = ns["reparameterize"](mu_t, lv, _tensor(eps, dtype))
    seen = _describe(z)
    seen["grads"], seen["grad_error"] = None, None
    if isinstance(z, torch.Tensor) and z.shape == mu_t.shape:
        seen["grads"], seen["grad_error"] = _grads((z * _tensor(dout, dtype)).sum(), [mu_t, lv])
    return seen


# ------------------------------------------------------------------------------------------
# Part 5: diffusion
# ------------------------------------------------------------------------------------------
def schedule_run(ns, T: int, s: float | None = None):
    """The student's cosine_schedule(T) (or (T, s)). Returns the result's type name and, when it
    is a tuple or list, _describe of each item."""
    out = ns["cosine_schedule"](int(T)) if s is None else ns["cosine_schedule"](int(T), s)
    parts = [_describe(o) for o in out] if isinstance(out, (tuple, list)) else None
    return {"type": type(out).__name__, "parts": parts}


def q_sample_run(ns, x0, t, eps, alpha_bars):
    """The student's q_sample on float32 x0 and eps, int64 t and float64 alpha_bars tensors."""
    return _describe(ns["q_sample"](_tensor(x0, "float32"), _tensor(t, "int64"), _tensor(eps, "float32"),
                                    _tensor(alpha_bars, "float64")))


def diffusion_loss_run(ns, desc: dict, x0, t, eps, alpha_bars):
    """The student's diffusion_loss(model, x0, t, eps, alpha_bars) with the model `desc`
    describes. Returns _describe of the loss, "grads": {parameter name: d loss / d parameter}
    (None: no gradient) and "grad_error"."""
    net = model(desc)
    out = ns["diffusion_loss"](net, _tensor(x0, "float32"), _tensor(t, "int64"), _tensor(eps, "float32"),
                               _tensor(alpha_bars, "float64"))
    seen = _describe(out)
    names, params = zip(*net.named_parameters(), strict=True)
    grads, seen["grad_error"] = _grads(out, list(params))
    seen["grads"] = None if grads is None else dict(zip(names, grads, strict=True))
    return seen


def reverse_step_run(ns, desc: dict, x_t, t: int, z, betas, alpha_bars):
    """The student's reverse_step(model, x_t, t, z, betas, alpha_bars) with the model `desc`
    describes, x_t and z float32 tensors, t a Python int, the schedule float64 tensors. Returns
    _describe of x_{t-1}, "x_changed" (x_t's values) and "grads_left" (parameters with a .grad)."""
    net = model(desc)
    x = _tensor(x_t, "float32")
    before = x.clone()
    out = ns["reverse_step"](net, x, int(t), _tensor(z, "float32"), _tensor(betas, "float64"),
                             _tensor(alpha_bars, "float64"))
    seen = _describe(out)
    seen["x_changed"] = not torch.equal(x, before)
    seen["grads_left"] = [n for n, p in net.named_parameters() if p.grad is not None]
    return seen


def sample_run(ns, desc: dict, n: int, betas, alpha_bars, seed: int):
    """The student's sample(model, n, betas, alpha_bars, generator) with the model `desc`
    describes and generator=torch.Generator().manual_seed(seed), twice. Returns _describe of
    the first result and "same": whether the second call gave the same tensor."""
    net = model(desc)
    b, ab = _tensor(betas, "float64"), _tensor(alpha_bars, "float64")
    first = ns["sample"](net, int(n), b, ab, torch.Generator().manual_seed(int(seed)))
    second = ns["sample"](net, int(n), b, ab, torch.Generator().manual_seed(int(seed)))
    seen = _describe(first)
    seen["same"] = (isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor)
                    and first.shape == second.shape and bool(torch.equal(first, second)))
    return seen


# ------------------------------------------------------------------------------------------
# the notebook's trained denoiser
# ------------------------------------------------------------------------------------------
def denoiser_status(ns, T: int):
    """Whether the notebook trained its `denoiser`: {"denoiser": it is an nn.Module, "trained":
    the training cell finished (`losses` is defined), "steps": len(losses)}. When the training
    did not finish, the student's train_denoiser first runs one step on a TinyEps (so that, if
    it is not written or fails, its error is what the grader reports)."""
    net = ns.get("denoiser")
    losses = ns.get("losses")
    trained = losses is not None
    if not (trained and isinstance(net, nn.Module)):
        x = torch.rand(16, 1, 8, 8) * 2 - 1
        abar = torch.cumprod(1 - torch.linspace(1e-3, 0.2, int(T), dtype=torch.float64), 0)
        ns["train_denoiser"](tiny_eps(int(T), 0).train(), x, abar, 1, 8, 1e-3,
                             torch.Generator().manual_seed(0))
    try:
        steps = len(losses) if trained else None
    except TypeError:
        steps = None
    return {"denoiser": isinstance(net, nn.Module), "type": type(net).__name__, "trained": trained,
            "steps": steps}


def denoiser_weights(ns):
    """The notebook's `denoiser`'s weights: {"type": its type name, "weights": its state_dict as
    float32 arrays, or None when it is not an nn.Module}. The grader loads them into the given
    TimeMLP, built on its side, and samples from that: the student's code does not run there."""
    net = ns["denoiser"]
    if not isinstance(net, nn.Module):
        return {"type": type(net).__name__, "weights": None}
    return {"type": type(net).__name__,
            "weights": {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}}
