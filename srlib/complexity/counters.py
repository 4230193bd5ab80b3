"""Parameters, MACs, FLOPs and memory access cost of one forward pass.

How it counts
-------------
The model runs once on the *meta* device (shapes only, no arithmetic, no memory): its parameters and
buffers are swapped for meta tensors with :func:`torch.func.functional_call`, so the model is neither
copied nor modified. A ``TorchDispatchMode`` records every ATen operator with the shapes of its tensor
inputs and outputs; forward hooks on the modules record which module is running and each leaf-module
call. ESRGAN at 256x256 LR takes about a second on 2 CPU cores (``thop``, a real forward, ~40 s).
The pass runs in eval mode under ``torch.no_grad()``; every module's ``training`` flag is restored.

Counting at the ATen level, not from module attributes, follows the tensors really used: a super-layer
that slices its weight and calls ``F.conv2d`` is counted at its sliced width.

Fallback: a model whose forward cannot run on meta tensors (it reads data-dependent values such as
``.item()`` / ``.tolist()``, or mixes in tensors kept as plain attributes rather than buffers) raises in
the meta pass; :func:`measure` then runs one *real* forward on the model's own device with a seeded
uniform [0, 1) input (eval mode, no grad, so BatchNorm statistics are untouched). ``Complexity.method``
says which pass produced the numbers; both give identical counts for a model that runs on meta. (A
wrong input shape fails in both passes; the error raised is the real pass's.)

MACs (multiply-accumulates)
---------------------------
Only convolutions (``aten.convolution``: conv and transposed conv, any groups / stride / dilation) and
matrix products (``aten.mm / addmm / bmm / baddbmm``: ``nn.Linear`` and explicit matmuls) count:

* convolution: ``N * C_out * H_out * W_out * (C_in / groups) * kh * kw``;
* transposed convolution: ``N * C_in * H_in * W_in * (C_out / groups) * kh * kw`` (each input element
  meets each kernel tap once; the same as ``torch.utils.flop_counter``. ``thop`` applies the plain-conv
  formula to the output size instead, which overcounts a stride-s transposed conv by about s^2);
* matrix product ``(n x k) @ (k x m)``: ``n * k * m`` (times the batch for bmm).

Elementwise ops, activations, normalisation, pooling, pixel shuffle, upsampling and concatenation cost
0 MACs. ``bias_adds`` = one add per output element of every convolution / addmm with a bias; they enter
``macs`` only when ``measure(..., bias=True)`` (AGD's "GFLOPs": ESRGAN at 256x256 LR is 1174.85 G without,
1175.89 G with). ``flops = 2 * macs_no_bias`` (``+ bias_adds`` when ``bias=True``): a multiply-accumulate
is two floating-point operations, a bias add one.

Memory access cost (bytes)
--------------------------
Element reads + writes *per call*, times ``bytes_per_element`` (4 = fp32, whatever the model's dtype);
no caches, in-place reuse or operator fusion. A layer called several times (shared or recursive weights,
CARN-M) is counted at every call, weights included. Numbers are ESRGAN x4 at a 128x128 LR input, against
the 4.29 "Memory (G)" of MFAGAN Table 2, read as GB = 1e9 bytes (in GiB = 2^30 bytes the two conv-based
definitions, the only ones within 2 %, become 3.925 and 4.022: 6-9 % off):

``conv_io_weights`` (4.214e9 B, -1.8 %)
    For every convolution / matrix-product call: its input activation + its output activation + its
    weight and bias (the definition in shared/notes/conventions.md).
``conv_io_weights_resample`` (4.319e9 B, +0.7 %) -- the default :data:`DEFAULT_MEMORY_DEFINITION`
    ``conv_io_weights`` + the input and output of every resampling op (nearest / bilinear / bicubic
    interpolation, pixel shuffle / unshuffle). Closer than ``conv_io_weights`` on every MFAGAN Table 2
    row we can build: ESRGAN 4.319 vs 4.29, SRGAN 0.630 vs 0.7 (conv_io_weights: 0.4625), EnhanceNet
    0.656 vs 0.91 (0.548; our EnhanceNet's FLOPs already differ from MFAGAN's, 34.3 vs 30.2 G).
``conv_io_weights_cat`` (6.819e9 B, +59 %)
    ``conv_io_weights`` + the output of every ``torch.cat`` / ``torch.stack`` (the copy a concatenation
    writes; its inputs are counted already as other layers' outputs). Ruled out by ESRGAN.
``all_layers_io`` (5.674e9 B, +32 %)
    For every *leaf-module* call: its tensor inputs + outputs + its own parameters. Functional code
    outside modules (``F.interpolate``, ``torch.cat``, ``x + y``) is invisible to it, so the number
    depends on how a model is written (what module-hook tools see).
``all_ops_io`` (12.93e9 B, x3.0)
    For every ATen operator that is not a view or metadata op: all tensor inputs + outputs, weights
    included: the total traffic of an unfused eager execution, independent of module structure.

Parameters
----------
``params`` counts trainable parameters (``requires_grad=True``), each shared tensor once; ``params_all``
counts every parameter, frozen ones too (RCAN's and TPSR's fixed mean-shift convs; a teacher frozen for
distillation has ``params == 0`` but the full ``params_all``). Buffers (BatchNorm running statistics,
registered constants) are counted in neither; ``buffers`` gives their element count.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = [
    "Complexity", "OpRecord", "Trace", "MEMORY_DEFINITIONS", "DEFAULT_MEMORY_DEFINITION",
    "measure", "trace", "count_params",
]

MEMORY_DEFINITIONS = (
    "conv_io_weights", "conv_io_weights_resample", "conv_io_weights_cat", "all_layers_io", "all_ops_io",
)
DEFAULT_MEMORY_DEFINITION = "conv_io_weights_resample"

_aten = torch.ops.aten
_CONV = {_aten.convolution, _aten._convolution}
_MATMUL_BIAS = {_aten.addmm, _aten.baddbmm}
_MATMUL = {_aten.mm, _aten.bmm} | _MATMUL_BIAS
_CAT = {_aten.cat, _aten.stack}
_RESAMPLE_PREFIXES = ("upsample_", "_upsample_", "pixel_shuffle", "pixel_unshuffle")
# Ops that move no data, beyond those whose schema marks them as views.
_NO_DATA = {"_unsafe_view", "detach", "alias", "lift_fresh", "empty", "empty_like", "empty_strided",
            "new_empty", "new_empty_strided", "_reshape_alias", "as_strided"}


@dataclass(frozen=True)
class OpRecord:
    """One ATen call of the traced forward pass.

    ``kind``: "conv", "matmul", "resample", "cat", "view" (moves no data) or "other". ``module``: the
    innermost module running when it was called ("" = the top level). Element counts, not bytes:
    ``in_elems`` / ``out_elems`` all tensor inputs / outputs; for conv and matmul, ``act_in_elems`` the
    activation input and ``weight_elems`` the weight + bias (a matmul's second operand is its weight).
    """

    op: str
    kind: str
    module: str
    macs: int
    bias_adds: int
    in_elems: int
    out_elems: int
    act_in_elems: int = 0
    weight_elems: int = 0


@dataclass(frozen=True)
class Trace:
    """Everything one forward pass did: ATen calls and leaf-module calls (name, elements of inputs +
    outputs + own parameters)."""

    records: tuple[OpRecord, ...]
    leaf_calls: tuple[tuple[str, int], ...]
    output_shape: tuple[int, ...]
    method: str  # "meta" or "real"


@dataclass(frozen=True)
class Complexity:
    """Cost of one forward pass at ``input_shape``; the module docstring defines every field.

    ``macs`` includes bias adds iff ``bias``; ``macs_no_bias`` and ``bias_adds`` are always given.
    ``memory`` (bytes) is the ``memory_definition`` entry; ``memory_<definition>`` gives each of
    :data:`MEMORY_DEFINITIONS` in bytes at ``bytes_per_element``.
    """

    params: int
    params_all: int
    buffers: int
    macs: int
    macs_no_bias: int
    bias_adds: int
    flops: int
    bias: bool
    memory: int
    memory_definition: str
    memory_conv_io_weights: int
    memory_conv_io_weights_resample: int
    memory_conv_io_weights_cat: int
    memory_all_layers_io: int
    memory_all_ops_io: int
    bytes_per_element: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    method: str

    @property
    def lr_hw(self) -> tuple[int, int]:
        """(height, width) of the input."""
        return (self.input_shape[-2], self.input_shape[-1])

    def memory_as(self, definition: str) -> int:
        """Memory access cost in bytes under one of :data:`MEMORY_DEFINITIONS`."""
        _check_definition(definition)
        return getattr(self, f"memory_{definition}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_definition(definition: str) -> None:
    if definition not in MEMORY_DEFINITIONS:
        raise ValueError(f"unknown memory definition {definition!r}; valid: {', '.join(MEMORY_DEFINITIONS)}")


def count_params(model: nn.Module) -> tuple[int, int, int]:
    """(trainable parameters, all parameters, buffer elements), each shared tensor once."""
    params = list(model.parameters())  # de-duplicates shared (tied) tensors
    return (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params),
            sum(b.numel() for b in model.buffers()))


def _tensors(obj: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(obj)[0] if isinstance(t, torch.Tensor)]


def _numel(obj: Any) -> int:
    return sum(t.numel() for t in _tensors(obj))


class _Recorder(TorchDispatchMode):
    """Records every ATen call; ``module_stack`` is maintained by the hooks in :func:`_run`."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[OpRecord] = []
        self.module_stack: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.records.append(self._record(func, args, kwargs, out))
        return out

    def _record(self, func, args, kwargs, out) -> OpRecord:
        packet = func.overloadpacket
        name = packet.__name__
        module = self.module_stack[-1] if self.module_stack else ""
        n_in, n_out = _numel((args, kwargs)), _numel(out)
        if packet in _CONV:
            x, w, b, transposed = args[0], args[1], args[2], bool(args[6])
            taps = math.prod(w.shape[2:])
            # weight is (C_out, C_in/g, k..) for a conv and (C_in, C_out/g, k..) for a transposed conv
            macs = (x.numel() if transposed else out.numel()) * w.shape[1] * taps
            bias_adds = out.numel() if b is not None else 0
            w_el = w.numel() + (b.numel() if b is not None else 0)
            return OpRecord(name, "conv", module, macs, bias_adds, n_in, n_out, x.numel(), w_el)
        if packet in _MATMUL:
            has_bias = packet in _MATMUL_BIAS
            a, m = (args[1], args[2]) if has_bias else (args[0], args[1])
            macs = a.numel() * m.shape[-1]  # (.., n, k) @ (.., k, m): n*k*m per batch entry
            bias_adds = out.numel() if has_bias else 0
            w_el = m.numel() + (args[0].numel() if has_bias else 0)
            return OpRecord(name, "matmul", module, macs, bias_adds, n_in, n_out, a.numel(), w_el)
        if packet in _CAT:
            kind = "cat"
        elif name.startswith(_RESAMPLE_PREFIXES):
            kind = "resample"
        elif getattr(func, "is_view", False) or name in _NO_DATA:
            kind = "view"
        else:
            kind = "other"
        return OpRecord(name, kind, module, 0, 0, n_in, n_out)


def _run(model: nn.Module, x: torch.Tensor, state: dict[str, torch.Tensor] | None) -> Trace:
    recorder = _Recorder()
    leaf_calls: list[tuple[str, int]] = []
    names = {m: n for n, m in model.named_modules()}
    leaves = {m for m in names if next(m.children(), None) is None}

    def pre(mod, args, kwargs):
        recorder.module_stack.append(names[mod])

    def post(mod, args, kwargs, output):
        recorder.module_stack.pop()
        if mod in leaves:
            own = sum(p.numel() for p in mod.parameters(recurse=False))
            leaf_calls.append((names[mod], _numel((args, kwargs)) + _numel(output) + own))

    handles = []
    try:
        for mod in names:
            handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(mod.register_forward_hook(post, with_kwargs=True))
        with torch.no_grad(), recorder:
            out = model(x) if state is None else torch.func.functional_call(model, state, (x,))
    finally:
        for h in handles:
            h.remove()
    outs = _tensors(out)
    return Trace(tuple(recorder.records), tuple(leaf_calls), tuple(outs[0].shape) if outs else (),
                 "real" if state is None else "meta")


def _dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.get_default_dtype(), torch.device("cpu")


def trace(model: nn.Module, input_shape: tuple[int, ...], *, mode: str = "auto") -> Trace:
    """Run one forward pass at ``input_shape`` (eval mode, no grad) and record every ATen call.

    ``mode``: "meta" (shapes only; raises if the model cannot run on meta), "real" (a real forward on the
    model's device with a seeded uniform input), or "auto" (meta, else real).
    """
    if mode not in ("auto", "meta", "real"):
        raise ValueError(f"mode must be 'auto', 'meta' or 'real', not {mode!r}")
    dtype, device = _dtype_device(model)
    flags = {m: m.training for m in model.modules()}
    model.eval()
    # torch.use_deterministic_algorithms(True) (set by every training stage, srlib.io.seed_everything)
    # routes interpolation through other ATen ops, which the resample records would miss: trace without it
    det, det_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        if mode != "real":
            state = {n: torch.empty_like(t, device="meta") for n, t in model.named_parameters()}
            state.update({n: torch.empty_like(t, device="meta") for n, t in model.named_buffers()})
            try:
                return _run(model, torch.empty(input_shape, dtype=dtype, device="meta"), state)
            except Exception:
                if mode == "meta":
                    raise
        gen = torch.Generator().manual_seed(0)
        return _run(model, torch.rand(input_shape, generator=gen, dtype=dtype).to(device), None)
    finally:
        torch.use_deterministic_algorithms(det, warn_only=det_warn)
        for m, f in flags.items():
            m.training = f


def measure(model: nn.Module, lr_hw: tuple[int, int] = (128, 128), *, bias: bool = False,
            in_channels: int = 3, batch: int = 1, bytes_per_element: int = 4,
            memory_definition: str = DEFAULT_MEMORY_DEFINITION, mode: str = "auto") -> Complexity:
    """Parameters, MACs, FLOPs and memory access cost of one forward pass of ``model``.

    The input is ``(batch, in_channels, *lr_hw)``, ``lr_hw = (height, width)``: for an x4 SR generator
    the LR size (a 1280x720 output is ``lr_hw=(180, 320)``). ``bias=True`` adds one add per output
    element of every conv / linear layer with a bias to ``macs`` (AGD's convention). What each field
    counts: the module docstring; each paper's input size and convention:
    :mod:`srlib.complexity.conventions`.
    """
    _check_definition(memory_definition)
    if len(lr_hw) != 2 or min(lr_hw) < 1:
        raise ValueError(f"lr_hw must be (height, width) with positive sizes, got {lr_hw!r}")
    shape = (int(batch), int(in_channels), int(lr_hw[0]), int(lr_hw[1]))
    tr = trace(model, shape, mode=mode)
    params, params_all, buffers = count_params(model)

    recs = tr.records
    macs_nb = sum(r.macs for r in recs)
    bias_adds = sum(r.bias_adds for r in recs)
    conv_io_w = sum(r.act_in_elems + r.out_elems + r.weight_elems for r in recs if r.kind in ("conv", "matmul"))
    elems = {
        "conv_io_weights": conv_io_w,
        "conv_io_weights_resample": conv_io_w + sum(r.in_elems + r.out_elems for r in recs if r.kind == "resample"),
        "conv_io_weights_cat": conv_io_w + sum(r.out_elems for r in recs if r.kind == "cat"),
        "all_layers_io": sum(n for _, n in tr.leaf_calls),
        "all_ops_io": sum(r.in_elems + r.out_elems for r in recs if r.kind != "view"),
    }
    mem = {k: v * bytes_per_element for k, v in elems.items()}
    extra = bias_adds if bias else 0
    return Complexity(
        params=params, params_all=params_all, buffers=buffers,
        macs=macs_nb + extra, macs_no_bias=macs_nb, bias_adds=bias_adds, flops=2 * macs_nb + extra,
        bias=bias, memory=mem[memory_definition], memory_definition=memory_definition,
        **{f"memory_{k}": v for k, v in mem.items()},
        bytes_per_element=bytes_per_element, input_shape=shape, output_shape=tr.output_shape,
        method=tr.method,
    )
