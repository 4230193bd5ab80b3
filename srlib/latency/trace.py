"""Enumerate the kernels a runtime executes for a PyTorch SR network (MFAGAN Sec. 3.6; FBNet; OFA).

A latency lookup table is keyed by the *fused kernel the runtime executes*, not by the PyTorch module:
LiteRT's converter (litert-torch 0.10) fuses a conv with a following ReLU / ReLU6 into one ``CONV_2D``,
an add with a following ReLU into one ``ADD``, and folds a scalar multiply / divide / add next to a conv
into the conv's weights or bias; LeakyReLU, PReLU, sigmoid and the rest stay separate ops. We checked
this on converted ``.tflite`` files (``tests/test_latency_lut.py`` re-checks the conv+ReLU fusion).

How the kernels are found
-------------------------
The model runs once under a :class:`torch.overrides.TorchFunctionMode` that records every torch function
call with its tensor inputs and outputs (Python level: ``F.conv2d``, ``F.interpolate``, ``torch.cat``,
``x + y``...). By default the pass runs on the *meta* device (parameters swapped for meta tensors with
:func:`torch.func.functional_call`; nothing is computed, the model is not modified), falling back to one
real forward on CPU. Records are then fused by the rules above using the data flow (a fusion needs the
conv's output to have the activation as its only consumer) and turned into :class:`Kernel` keys.

A :class:`Kernel` is ``op`` plus named integer / string / tuple parameters; ``str(kernel)`` is the LUT
key, e.g. ``conv2d(h=16,w=16,cin=16,cout=16,k=3,stride=1,pad=1,dil=1,groups=1,act=relu)``, and
:meth:`Kernel.parse` reads it back. :func:`kernel_module` rebuilds a one-kernel PyTorch module from a key,
which is what the LUT measures. Batch size is 1 throughout (single-image SR inference).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .export import hw_pair

__all__ = ["Kernel", "trace_kernels", "kernel_module", "KernelTraceError", "OVERHEAD"]


class KernelTraceError(RuntimeError):
    """A model op the tracer cannot map to a runtime kernel; the message names it."""


# ------------------------------------------------------------------------------------------------------
# Kernel keys
# ------------------------------------------------------------------------------------------------------
_TUPLE_PARAMS = {"cins", "a", "b", "sizes", "dims", "shape", "pads"}


@dataclass(frozen=True)
class Kernel:
    """One runtime kernel: ``op`` and its parameters (ints, strings, tuples of ints), in a fixed order."""
    op: str
    params: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        return f"{self.op}(" + ",".join(f"{k}={_fmt(v)}" for k, v in self.params) + ")"

    def __getitem__(self, name: str) -> Any:
        for k, v in self.params:
            if k == name:
                return v
        raise KeyError(f"kernel {self} has no parameter {name!r}")

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    @classmethod
    def make(cls, op: str, **params: Any) -> "Kernel":
        return cls(op, tuple((k, tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else v)
                             for k, v in params.items()))

    @classmethod
    def parse(cls, key: str) -> "Kernel":
        m = re.fullmatch(r"([A-Za-z_][\w.]*)\((.*)\)", key.strip())
        if not m:
            raise ValueError(f"not a kernel key: {key!r} (expected op(name=value,...))")
        params = []
        for part in filter(None, m.group(2).split(",")):
            name, _, raw = part.partition("=")
            if name in _TUPLE_PARAMS:
                value: Any = tuple(int(x) for x in raw.split("x") if x != "")
            elif re.fullmatch(r"-?\d+", raw):
                value = int(raw)
            else:
                value = raw
            params.append((name, value))
        return cls(m.group(1), tuple(params))


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return "x".join(str(int(x)) for x in v) + ("x" if len(v) == 1 else "")
    if isinstance(v, bool):
        return str(int(v))
    return str(v)


#: The per-invoke cost of the runtime (calling into the interpreter, copying the input in and the
#: output out), measured on a trivial model. Every network's kernel list holds it exactly once.
OVERHEAD = Kernel("invoke_overhead", ())


# ------------------------------------------------------------------------------------------------------
# Recording
# ------------------------------------------------------------------------------------------------------
@dataclass
class _Rec:
    name: str                      # normalised function name (relu, conv2d, add, ...)
    func: Callable
    args: tuple
    kwargs: dict
    ins: list[int]                 # value ids of activation inputs, in argument order
    outs: list[int]                # value ids of tensor outputs
    in_shapes: list[tuple[int, ...]]
    out_shapes: list[tuple[int, ...]]
    consts: list[Any]              # non-activation arguments (numbers, parameter tensors' shapes)


_IGNORED = {
    "size", "dim", "numel", "__get__", "__len__", "__format__", "__repr__", "__bool__", "__index__",
    "__int__", "__float__", "item", "tolist", "is_floating_point", "is_contiguous", "__setstate__",
    "__reduce_ex__", "__deepcopy__", "__hash__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "_has_compatible_shallow_copy_type", "dtype", "device", "shape", "is_meta", "storage_offset", "stride",
    "data_ptr", "untyped_storage", "get_device",
}
#: Tensor-returning calls that are no kernel: their output is the same activation (value id) as the input.
_ALIAS = {"contiguous", "detach", "requires_grad_", "type", "to", "float", "cpu", "clone", "identity"}


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.recs: list[_Rec] = []
        self.version: dict[int, int] = {}   # id(tensor) -> current value id
        self.keep: list[torch.Tensor] = []  # keep tensors alive so that ids are not reused
        self.next_id = 0

    def new_value(self, t: torch.Tensor) -> int:
        vid = self.next_id
        self.next_id += 1
        self.version[id(t)] = vid
        self.keep.append(t)
        return vid

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _norm_name(func)
        if name in _IGNORED:
            return out
        flat_in = _flatten((args, kwargs))
        act_in = [t for t in flat_in if isinstance(t, torch.Tensor) and id(t) in self.version]
        flat_out = [t for t in _flatten(out) if isinstance(t, torch.Tensor)]
        if not flat_out or not act_in:
            # no tensor out, or a computation on parameters / constants only (e.g. slicing a weight
            # for an elastic layer): the converter folds those into constants
            return out
        ins = [self.version[id(t)] for t in act_in]
        if name in _ALIAS and len(flat_out) == 1:
            self.version[id(flat_out[0])] = ins[0]
            self.keep.append(flat_out[0])
            return out
        outs = [self.new_value(t) for t in flat_out]
        consts = [(tuple(t.shape) if isinstance(t, torch.Tensor) else t) for t in flat_in
                  if not (isinstance(t, torch.Tensor) and any(t is a for a in act_in))]
        self.recs.append(_Rec(name, func, args, kwargs, ins, outs, [tuple(t.shape) for t in act_in],
                              [tuple(t.shape) for t in flat_out], consts))
        return out


def _norm_name(func: Callable) -> str:
    name = getattr(func, "__name__", None) or str(func)
    if name == "__get__":  # property getter: Tensor.shape etc.
        return "__get__"
    return name


def _flatten(x: Any) -> list:
    if isinstance(x, (list, tuple)):
        return [y for e in x for y in _flatten(e)]
    if isinstance(x, dict):
        return [y for e in x.values() for y in _flatten(e)]
    return [x]


def _record(model: nn.Module, x: torch.Tensor, device: str) -> _Recorder:
    rec = _Recorder()
    was_training = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            if device == "meta":
                state = {k: torch.empty(v.shape, dtype=v.dtype, device="meta")
                         for k, v in list(model.named_parameters()) + list(model.named_buffers())}
                xm = torch.empty(x.shape, dtype=x.dtype, device="meta")
                rec.new_value(xm)
                with rec:
                    torch.func.functional_call(model, state, (xm,))
            else:
                rec.new_value(x)
                with rec:
                    model(x)
    finally:
        for m, t in was_training.items():
            m.train(t)
    return rec


# ------------------------------------------------------------------------------------------------------
# Fusion and kernel keys
# ------------------------------------------------------------------------------------------------------
_RELU = {"relu", "relu_", "relu6", "hardtanh", "hardtanh_"}
_SCALAR_FOLD = {"mul", "__mul__", "__rmul__", "mul_", "__imul__", "div", "__truediv__", "div_", "__itruediv__",
                "add", "__add__", "__radd__", "add_", "__iadd__", "sub", "__sub__", "sub_", "__isub__"}
_BINARY = {"add": "add", "__add__": "add", "__radd__": "add", "add_": "add", "__iadd__": "add",
           "sub": "sub", "__sub__": "sub", "sub_": "sub", "__isub__": "sub", "__rsub__": "sub",
           "mul": "mul", "__mul__": "mul", "__rmul__": "mul", "mul_": "mul", "__imul__": "mul",
           "div": "div", "__truediv__": "div", "div_": "div", "__itruediv__": "div"}
_UNARY = {"sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh", "tanh_": "tanh", "sqrt": "sqrt",
          "sqrt_": "sqrt", "exp": "exp", "abs": "abs", "relu": "relu", "relu_": "relu", "relu6": "relu6",
          "leaky_relu": "leaky_relu", "leaky_relu_": "leaky_relu", "gelu": "gelu", "silu": "silu",
          "hardswish": "hardswish", "neg": "neg", "__neg__": "neg", "elu": "elu"}
_FREE = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "__getitem__"}


def _relu6(rec: _Rec) -> bool:
    if rec.name in ("relu", "relu_"):
        return True
    if rec.name == "relu6":
        return True
    if rec.name.startswith("hardtanh"):
        lo = rec.kwargs.get("min_val", rec.args[1] if len(rec.args) > 1 else -1.0)
        hi = rec.kwargs.get("max_val", rec.args[2] if len(rec.args) > 2 else 1.0)
        return (lo, hi) == (0.0, 6.0)
    return False


def _act_name(rec: _Rec) -> str:
    return "relu" if rec.name in ("relu", "relu_") else "relu6"


def _is_scalar_op(rec: _Rec) -> bool:
    """``x * c`` / ``x / c`` / ``x + c`` / ``x - c`` with a Python number (or 0-dim constant)."""
    if rec.name not in _SCALAR_FOLD or len(rec.ins) != 1:
        return False
    others = [c for c in rec.consts if not isinstance(c, (str, type(None)))]
    return all(isinstance(c, (int, float)) or c == () for c in others) and bool(others)


def _nhw(shape: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) of an NCHW activation; lower ranks are padded on the left."""
    s = tuple(int(v) for v in shape)
    if len(s) == 4:
        if s[0] != 1:
            raise KernelTraceError(f"batch size {s[0]}: the latency tools assume batch 1")
        return s[1], s[2], s[3]
    s = (1,) * (3 - len(s)) + s[-3:] if len(s) < 3 else s[-3:]
    return s  # type: ignore[return-value]


def _conv_kernel(rec: _Rec, act: str) -> Kernel:
    a = list(rec.args) + [None] * 7
    weight = a[1] if isinstance(a[1], torch.Tensor) else rec.kwargs["weight"]
    stride = rec.kwargs.get("stride", a[3] if a[3] is not None else 1)
    padding = rec.kwargs.get("padding", a[4] if a[4] is not None else 0)
    dilation = rec.kwargs.get("dilation", a[5] if a[5] is not None else 1)
    groups = rec.kwargs.get("groups", a[6] if a[6] is not None else 1)
    c, h, w = _nhw(rec.in_shapes[0])
    cout, _, kh, kw = weight.shape

    def one(v: Any, what: str) -> Any:
        if isinstance(v, str):
            if v == "same":
                return "same"
            if v == "valid":
                return 0
        v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        if v[0] != v[1]:
            raise KernelTraceError(f"conv2d with non-square {what} {v} is not supported by the LUT keys")
        return int(v[0])

    if kh != kw:
        raise KernelTraceError(f"conv2d with a non-square kernel {kh}x{kw} is not supported by the LUT keys")
    return Kernel.make("conv2d", h=h, w=w, cin=c, cout=int(cout), k=int(kh), stride=one(stride, "stride"),
                       pad=one(padding, "padding"), dil=one(dilation, "dilation"), groups=int(groups), act=act)


def _kernel_of(rec: _Rec, act: str = "none") -> Kernel | None:
    n = rec.name
    if n in ("conv2d",):
        return _conv_kernel(rec, act)
    if n in _FREE or n == "split" or n == "chunk" or n == "split_with_sizes":
        if n in ("split", "chunk", "split_with_sizes"):
            c, h, w = _nhw(rec.in_shapes[0])
            dim = rec.kwargs.get("dim", rec.args[2] if len(rec.args) > 2 else 0)
            if dim not in (1, -3):
                raise KernelTraceError(f"{n} along dim {dim}: only channel splits are supported")
            return Kernel.make("split", h=h, w=w, sizes=[s[1] for s in rec.out_shapes])
        if n == "__getitem__":
            if rec.out_shapes[0] != rec.in_shapes[0]:
                raise KernelTraceError("tensor slicing (x[...]) is not a supported LUT kernel; "
                                       "use torch.split along channels")
        return None
    if n in _BINARY:
        op = _BINARY[n]
        if len(rec.ins) == 1:  # tensor (op) scalar that was not folded into a conv
            c, h, w = _nhw(rec.in_shapes[0])
            return Kernel.make(f"{op}_scalar", c=c, h=h, w=w)
        a, b = (_nhw(s) for s in rec.in_shapes[:2])
        params: dict[str, Any] = {"a": a, "b": b}
        if op == "add":
            params["act"] = act
        return Kernel.make(op, **params)
    if n in _UNARY:
        c, h, w = _nhw(rec.in_shapes[0])
        return Kernel.make(_UNARY[n], c=c, h=h, w=w)
    if n in ("pow", "pow_", "__pow__", "square"):
        c, h, w = _nhw(rec.in_shapes[0])
        e = 2 if n == "square" else [v for v in rec.consts if isinstance(v, (int, float))][0]
        if e != 2:
            raise KernelTraceError(f"pow with exponent {e}: only squares are supported")
        return Kernel.make("square", c=c, h=h, w=w)
    if n == "prelu":
        c, h, w = _nhw(rec.in_shapes[0])
        weight = rec.args[1] if len(rec.args) > 1 else rec.kwargs["weight"]
        return Kernel.make("prelu", c=c, h=h, w=w, slopes=int(weight.numel()))
    if n == "cat":
        dim = rec.kwargs.get("dim", rec.args[1] if len(rec.args) > 1 else 0)
        if dim not in (1, -3):
            raise KernelTraceError(f"torch.cat along dim {dim}: only channel concatenation is supported")
        _, h, w = _nhw(rec.in_shapes[0])
        return Kernel.make("concat", h=h, w=w, cins=[_nhw(s)[0] for s in rec.in_shapes])
    if n in ("pixel_shuffle", "pixel_unshuffle"):
        c, h, w = _nhw(rec.in_shapes[0])
        r = rec.args[1] if len(rec.args) > 1 else rec.kwargs.get("upscale_factor", rec.kwargs.get("downscale_factor"))
        return Kernel.make(n, c=c, h=h, w=w, r=int(r))
    if n == "batch_norm":
        c, h, w = _nhw(rec.in_shapes[0])
        return Kernel.make("batch_norm", c=c, h=h, w=w)
    if n == "pad":
        c, h, w = _nhw(rec.in_shapes[0])
        pads = tuple(rec.args[1] if len(rec.args) > 1 else rec.kwargs["pad"])
        mode = rec.kwargs.get("mode", rec.args[2] if len(rec.args) > 2 else "constant")
        if len(pads) != 4 or mode != "constant":
            raise KernelTraceError(f"F.pad {pads} mode {mode!r}: only constant H/W padding is supported")
        return Kernel.make("pad", c=c, h=h, w=w, pads=pads)
    if n == "interpolate":
        c, h, w = _nhw(rec.in_shapes[0])
        _, oh, ow = _nhw(rec.out_shapes[0])
        mode = rec.kwargs.get("mode", rec.args[3] if len(rec.args) > 3 else "nearest")
        align = rec.kwargs.get("align_corners", rec.args[4] if len(rec.args) > 4 else None)
        return Kernel.make("resize", c=c, h=h, w=w, oh=oh, ow=ow, mode=str(mode), align=int(bool(align)))
    if n in ("max_pool2d", "avg_pool2d", "max_pool2d_with_indices"):
        c, h, w = _nhw(rec.in_shapes[0])
        a = list(rec.args) + [None] * 5
        k = rec.kwargs.get("kernel_size", a[1])
        s = rec.kwargs.get("stride", a[2]) or k
        p = rec.kwargs.get("padding", a[3]) or 0
        k, s, p = (int(v[0]) if isinstance(v, (tuple, list)) else int(v) for v in (k, s, p))
        return Kernel.make("max_pool2d" if n.startswith("max") else "avg_pool2d", c=c, h=h, w=w, k=k,
                           stride=s, pad=p)
    if n in ("adaptive_avg_pool2d", "mean"):
        c, h, w = _nhw(rec.in_shapes[0])
        if n == "adaptive_avg_pool2d":
            osz = rec.args[1] if len(rec.args) > 1 else rec.kwargs["output_size"]
            if osz not in (1, (1, 1), [1, 1]):
                raise KernelTraceError(f"adaptive_avg_pool2d to {osz}: only global pooling is supported")
            return Kernel.make("mean", c=c, h=h, w=w, dims=(2, 3))
        dims = rec.kwargs.get("dim", rec.args[1] if len(rec.args) > 1 else None)
        dims = (dims,) if isinstance(dims, int) else tuple(dims or (0, 1, 2, 3))
        dims = tuple(sorted(d % 4 for d in dims))
        return Kernel.make("mean", c=c, h=h, w=w, dims=dims)
    shapes = "; ".join("x".join(map(str, s)) for s in rec.in_shapes)
    raise KernelTraceError(f"no runtime kernel known for torch op {n!r} (inputs {shapes}); "
                           f"add it to srlib/latency/trace.py")


def _fuse(recs: list[_Rec]) -> list[Kernel]:
    producer: dict[int, int] = {}
    consumers: dict[int, list[int]] = {}
    for i, r in enumerate(recs):
        for v in r.outs:
            producer[v] = i
        for v in r.ins:
            consumers.setdefault(v, []).append(i)
    skip: set[int] = set()
    act: dict[int, str] = {}

    def sole_consumer(i: int) -> int | None:
        outs = recs[i].outs
        if len(outs) != 1:
            return None
        cons = consumers.get(outs[0], [])
        return cons[0] if len(cons) == 1 else None

    for i, r in enumerate(recs):
        if i in skip:
            continue
        if r.name == "conv2d":
            # a scalar op whose only consumer is this conv folds into its weights (x * 255 -> conv)
            src = producer.get(r.ins[0]) if r.ins else None
            if src is not None and _is_scalar_op(recs[src]) and sole_consumer(src) == i:
                skip.add(src)
            # ... and scalar ops / an inference BatchNorm after it fold into weights and bias; then a
            # ReLU / ReLU6 fuses
            j = sole_consumer(i)
            while j is not None and (_is_scalar_op(recs[j]) or recs[j].name == "batch_norm"):
                skip.add(j)
                i_last = j
                j = sole_consumer(i_last)
            if j is not None and _relu6(recs[j]):
                act[i] = _act_name(recs[j])
                skip.add(j)
        elif _BINARY.get(r.name) == "add" and len(r.ins) == 2:
            j = sole_consumer(i)
            if j is not None and recs[j].name in ("relu", "relu_"):
                act[i] = "relu"
                skip.add(j)
    kernels = []
    for i, r in enumerate(recs):
        if i in skip:
            continue
        k = _kernel_of(r, act.get(i, "none"))
        if k is not None:
            kernels.append(k)
    return kernels


def trace_kernels(model: nn.Module, lr_hw: tuple[int, int] | int, *, channels: int = 3,
                  device: str = "auto") -> list[Kernel]:
    """The runtime kernels of one forward pass at LR size ``lr_hw``, in execution order.

    The list starts with :data:`OVERHEAD` (the once-per-inference cost). ``device``: ``"meta"`` (no
    arithmetic), ``"cpu"`` (a real forward), or ``"auto"`` (meta, falling back to cpu).
    """
    h, w = hw_pair(lr_hw)
    x = torch.rand(1, channels, h, w)
    if device == "auto":
        try:
            rec = _record(model, x, "meta")
        except KernelTraceError:
            raise
        except Exception:
            rec = _record(model, x, "cpu")
    else:
        rec = _record(model, x, device)
    return [OVERHEAD] + _fuse(rec.recs)


# ------------------------------------------------------------------------------------------------------
# One-kernel modules (what the LUT measures)
# ------------------------------------------------------------------------------------------------------
class _Fn(nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor], *mods: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.mods = nn.ModuleList(mods)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(self, *xs)


def _act_fn(act: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6}[act]


def kernel_module(k: Kernel | str) -> tuple[nn.Module, list[torch.Tensor], str]:
    """A PyTorch module that runs exactly kernel ``k``, its example inputs and their layout; weights and
    inputs are seeded, so a kernel's model (and its converted file) is the same in any process.

    Layout ``"nchw"``: convert with ``to_channel_last_io`` (convolutions, pixel shuffle, resizing,
    pooling -- ops litert-torch's layout pass turns NHWC, as in a network). ``"nhwc"``: the module
    already works on NHWC tensors. Elementwise ops, concatenation, splits and means are written that way
    because, converted alone behind ``to_channel_last_io``, they keep NCHW and gain two TRANSPOSE ops that
    the same op inside a network (fed by a conv) does not have.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return _kernel_module(k)


def _kernel_module(k: Kernel | str) -> tuple[nn.Module, list[torch.Tensor], str]:
    k = Kernel.parse(k) if isinstance(k, str) else k
    g = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g)

    def nhwc(c: int, h: int, w: int) -> torch.Tensor:
        return rand(1, h, w, c)

    op = k.op
    if op == "invoke_overhead":
        # the cheapest model a runtime can run: one add on a single element
        return _Fn(lambda s, x: x + 1.0), [rand(1, 1, 1, 1)], "nhwc"
    if op == "conv2d":
        conv = nn.Conv2d(k["cin"], k["cout"], k["k"], stride=k["stride"], padding=k["pad"], dilation=k["dil"],
                         groups=k["groups"])
        f = _act_fn(k["act"])
        return _Fn(lambda s, x: f(s.mods[0](x)), conv), [rand(1, k["cin"], k["h"], k["w"])], "nchw"
    if op in ("add", "sub", "mul", "div"):
        a, b = k["a"], k["b"]
        fn = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[op]
        act = _act_fn(k.get("act", "none"))
        ins = [nhwc(*a), nhwc(*b) + (1.0 if op == "div" else 0.0)]
        return _Fn(lambda s, x, y: act(fn(x, y))), ins, "nhwc"
    if op.endswith("_scalar"):
        base = op[:-len("_scalar")]
        fn = {"add": lambda t: t + 0.5, "sub": lambda t: t - 0.5, "mul": lambda t: t * 0.5,
              "div": lambda t: t / 3.0}[base]
        return _Fn(lambda s, x: fn(x)), [nhwc(k["c"], k["h"], k["w"])], "nhwc"
    unary = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "sqrt": torch.sqrt, "exp": torch.exp,
             "abs": torch.abs, "relu": F.relu, "relu6": F.relu6, "leaky_relu": lambda t: F.leaky_relu(t, 0.05),
             "gelu": F.gelu, "silu": F.silu, "hardswish": F.hardswish, "neg": torch.neg, "elu": F.elu,
             "square": lambda t: t * t}
    if op in unary:
        fn = unary[op]
        return _Fn(lambda s, x: fn(x)), [nhwc(k["c"], k["h"], k["w"])], "nhwc"
    if op == "prelu":
        # litert-torch lowers PReLU as relu(x) - a * relu(-x); written on NHWC with a on the last axis
        a = nn.Parameter(torch.full((k["slopes"],), 0.25))
        holder = nn.Module()
        holder.a = a
        return (_Fn(lambda s, x: torch.relu(x) - s.mods[0].a * torch.relu(torch.neg(x)), holder),
                [nhwc(k["c"], k["h"], k["w"]) - 0.5], "nhwc")
    if op == "concat":
        return _Fn(lambda s, *xs: torch.cat(xs, dim=3)), [nhwc(c, k["h"], k["w"]) for c in k["cins"]], "nhwc"
    if op == "split":
        sizes = list(k["sizes"])
        return _Fn(lambda s, x: torch.split(x, sizes, dim=3)), [nhwc(sum(sizes), k["h"], k["w"])], "nhwc"
    if op == "mean":
        # as in a converted network: MEAN without keep_dims, then a RESHAPE back to rank 4
        dims = tuple({1: 3, 2: 1, 3: 2, 0: 0}[d] for d in k["dims"])  # NCHW axes -> NHWC axes
        x0 = nhwc(k["c"], k["h"], k["w"])
        shape = [1 if i in dims else n for i, n in enumerate(x0.shape)]
        return _Fn(lambda s, x: x.mean(dim=dims).reshape(shape)), [x0], "nhwc"
    if op == "batch_norm":
        # an inference-mode BatchNorm that no conv absorbs: a per-channel multiply-add
        sc, sh = torch.rand(k["c"], generator=g) + 0.5, torch.rand(k["c"], generator=g)
        holder = nn.Module()
        holder.register_buffer("sc", sc)
        holder.register_buffer("sh", sh)
        return _Fn(lambda s, x: x * s.mods[0].sc + s.mods[0].sh, holder), [nhwc(k["c"], k["h"], k["w"])], "nhwc"
    if op == "pad":
        left, right, top, bottom = k["pads"]
        return (_Fn(lambda s, x: F.pad(x, (0, 0, left, right, top, bottom))), [nhwc(k["c"], k["h"], k["w"])],
                "nhwc")
    if op == "pixel_unshuffle":
        r = k["r"]
        return _Fn(lambda s, x: F.pixel_unshuffle(x, r)), [rand(1, k["c"], k["h"], k["w"])], "nchw"
    if op == "pixel_shuffle":
        r = k["r"]
        return _Fn(lambda s, x: F.pixel_shuffle(x, r)), [rand(1, k["c"], k["h"], k["w"])], "nchw"
    if op == "resize":
        size, mode, align = (k["oh"], k["ow"]), k["mode"], bool(k["align"])
        kw = {} if mode in ("nearest", "area") else {"align_corners": align}
        return (_Fn(lambda s, x: F.interpolate(x, size=size, mode=mode, **kw)), [rand(1, k["c"], k["h"], k["w"])],
                "nchw")
    if op in ("max_pool2d", "avg_pool2d"):
        fn = F.max_pool2d if op == "max_pool2d" else F.avg_pool2d
        ks, st, pd = k["k"], k["stride"], k["pad"]
        return _Fn(lambda s, x: fn(x, ks, st, pd)), [rand(1, k["c"], k["h"], k["w"])], "nchw"
    raise KernelTraceError(f"no one-kernel module for {k}: add a builder in srlib/latency/trace.py")


@functools.lru_cache(maxsize=None)
def _cached(name: str, kw: tuple, lr_hw: tuple[int, int]) -> tuple[Kernel, ...]:
    from srlib import models

    try:  # build on the meta device: no weight initialisation, much faster for big models
        with torch.device("meta"):
            model = models.build(name, **dict(kw))
    except Exception:
        model = models.build(name, **dict(kw))
    return tuple(trace_kernels(model, lr_hw))


def zoo_kernels(name: str, lr_hw: tuple[int, int] | int, **build_kw: Any) -> tuple[Kernel, ...]:
    """Kernels of ``srlib.models.build(name, **build_kw)``, cached per (architecture, input size)."""
    hw = hw_pair(lr_hw)
    kw = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in build_kw.items()))
    return _cached(name, kw, hw)
