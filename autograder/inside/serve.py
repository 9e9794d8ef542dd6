"""Serve one request of the trusted grader inside the student's kernel.

The grader runs `handle("<request>")` in the kernel (after the notebook has run, or in a fresh
kernel that ran only the answer cells). A request names what to do:

- {"op": "call", "target": [...], "args": [...], "kwargs": {...}, "return_args": bool}
- {"op": "get", "target": [...]}          the value of a name or attribute
- {"op": "set", "target": [...], "value": v}

A target is a path: a name in the student's namespace, or a Handle (an object made by an
earlier request), or ["$probe", module, function] (autograder/inside/probes), then attribute
names. Arguments arrive as fresh copies (decoded from the request), so a function that changes
its inputs in place changes nothing of the grader's. The reply is shown as one display output of
type REPLY_MIME: {"ok": value} or {"ok": [value, args after the call]}, or {"error": {...}} with
the exception's class names, message and where in the student's code it was raised. Objects
that are not plain data stay here and cross as handles.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import MutableMapping

from . import wire

REPLY_MIME = "text/x-dlcv-reply"


class NotDefined(NameError):
    """The grader asked for a name the student's namespace does not have."""


class ProbeNames(MutableMapping):
    """The student's namespace as a probe sees it: `ns["LinearClassifier"]` of a name that is not
    defined raises NotDefined (not KeyError), so the grader can say which cell should define it."""

    def __init__(self, ns: dict):
        self.ns = ns

    def __getitem__(self, name):
        try:
            return self.ns[name]
        except KeyError:
            raise NotDefined(f"name {name!r} is not defined") from None

    def get(self, name, default=None):
        return self.ns.get(name, default)

    def __contains__(self, name) -> bool:
        return name in self.ns

    def __setitem__(self, name, value) -> None:
        self.ns[name] = value

    def __delitem__(self, name) -> None:
        del self.ns[name]

    def __iter__(self):
        return iter(self.ns)

    def __len__(self) -> int:
        return len(self.ns)


def _namespace() -> dict:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:
            return ip.user_ns
    except ImportError:
        pass
    return vars(sys.modules["__main__"])


def describe(e: BaseException) -> dict:
    """What the grader may say about an exception: class names, message, where it was raised."""
    tb = e.__traceback__
    frames = traceback.extract_tb(tb) if tb is not None else []
    mine = __file__.rsplit("/", 1)[0]
    theirs = [f for f in frames if not f.filename.startswith(mine)]
    where = None
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(mine):
            where = getattr(code, "co_qualname", code.co_name)
    try:
        message = str(e)
    except Exception:  # noqa: BLE001 - a student's exception whose str() fails
        message = "(the message could not be read)"
    return {"types": [c.__name__ for c in type(e).__mro__ if c is not object],
            "message": message[:2000],
            "where": where if where not in (None, "<module>") else None,
            "trace": [f"line {f.lineno}, in {f.name}: {(f.line or '').strip()[:200]}"
                      for f in theirs[-6:]]}


class Server:
    """Answers requests against one namespace, keeping the objects it hands out as handles."""

    def __init__(self, namespace: dict | None = None):
        self.namespace = namespace
        self.kept: dict[int, object] = {}

    def keep(self, obj) -> wire.Handle:
        for k, v in self.kept.items():
            if v is obj:
                return wire.Handle(k, type(obj).__name__)
        k = len(self.kept) + 1
        self.kept[k] = obj
        return wire.Handle(k, type(obj).__name__)

    def resolve(self, h: wire.Handle):
        if h.id not in self.kept:
            raise LookupError(f"no object #{h.id} was made here")
        return self.kept[h.id]

    def lookup(self, target: list, ns: dict):
        head, rest = target[0], list(target[1:])
        if head == "$probe":
            module, func, rest = rest[0], rest[1], rest[2:]
            probe = getattr(importlib.import_module(f"{__package__}.probes.{module}"), func)
            names = ProbeNames(ns)
            obj = lambda *a, **k: probe(names, *a, **k)  # noqa: E731 - the probe sees the namespace
        elif isinstance(head, str):
            if head not in ns:
                raise NotDefined(f"name {head!r} is not defined")
            obj = ns[head]
        else:
            obj = head  # an object from an earlier request (decoded from its handle)
        for attr in rest:
            obj = getattr(obj, attr)
        return obj

    def respond(self, request: str) -> str:
        """The reply (JSON text) to one request (JSON text); see the module's doc."""
        try:
            req = wire.decode(request, resolve=self.resolve)
            ns = self.namespace if self.namespace is not None else _namespace()
            op, target = req["op"], req["target"]
            if op == "call":
                args, kwargs = list(req.get("args", [])), dict(req.get("kwargs", {}))
                value = self.lookup(target, ns)(*args, **kwargs)
                reply = {"ok": [value, [args, kwargs]] if req.get("return_args") else value}
            elif op == "get":
                reply = {"ok": self.lookup(target, ns)}
            elif op == "set":
                setattr(self.lookup(target[:-1], ns), target[-1], req["value"])
                reply = {"ok": None}
            else:
                raise ValueError(f"unknown request {op!r}")
            return wire.encode(reply, keep=self.keep)
        except BaseException as e:  # noqa: BLE001 - every failure is the grader's to judge
            return wire.encode({"error": describe(e)})


_SERVER = Server()  # the kernel's: the student's namespace is IPython's user namespace


def handle(request: str) -> None:
    """Serve one request in this kernel and show the reply as a REPLY_MIME display output."""
    from IPython.display import display

    display({REPLY_MIME: _SERVER.respond(request)}, raw=True)
