"""Export an srlib generator to LiteRT (``.tflite``) and ONNX, each verified against PyTorch.

* **LiteRT** through litert-torch 0.10: ``litert_torch.to_channel_last_io(model, args=[0], outputs=[0])``
  gives NHWC input and output (what a phone app feeds; the converter then removes the layout
  transposes), ``litert_torch.convert(model.eval(), (x_nhwc,))`` and ``.export(path)``.
* **ONNX** through ``torch.onnx.export(..., dynamo=True)`` -- the torch.export-based exporter, the
  default of torch >= 2.9, which works offline with the onnxscript package -- at **opset 18**
  (:data:`ONNX_OPSET`). ``dynamo=False`` selects the legacy TorchScript exporter (faster, deprecated).
  I/O stays NCHW (input ``"lr"``, output ``"sr"``).

Every export runs the file on its runtime (LiteRT interpreter with its default XNNPACK delegate;
onnxruntime CPUExecutionProvider) on a seeded uniform [0, 1) input and compares with the PyTorch
output: the max abs difference is returned, and above ``tol`` (1e-4, fp32) :class:`ExportMismatchError`
is raised. Files are written to a temp name and moved onto ``path`` only once verified, so a file at
``path`` always is a verified export.

Ops a converter or runtime cannot take raise :class:`UnsupportedOpError` naming them (taken from the
converter's or runtime's message), never swallowed. For LiteRT, :func:`tflite_ops` lists the converted
model's ops and whether XNNPACK took each; :attr:`ExportResult.not_delegated` names those it left to
the built-in kernels (e.g. ``RESIZE_NEAREST_NEIGHBOR``), which matter for latency.
"""
from __future__ import annotations

import contextlib
import io as _io
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn

__all__ = ["TOL", "ONNX_OPSET", "ExportResult", "OpInfo", "UnsupportedOpError", "ExportMismatchError",
           "export_tflite", "export_onnx", "tflite_ops", "xnnpack_rejected", "litert_interpreter",
           "random_input"]

TOL = 1e-4
ONNX_OPSET = 18


class UnsupportedOpError(RuntimeError):
    """A converter or runtime rejected ops; ``.runtime`` and ``.ops`` name them."""

    def __init__(self, runtime: str, ops: Sequence[str], detail: str = "") -> None:
        self.runtime = runtime
        self.ops = list(dict.fromkeys(ops))
        self.detail = detail
        first = detail.strip().splitlines()[0] if detail.strip() else ""
        super().__init__(f"{runtime} cannot take op(s) {', '.join(self.ops)}" + (f": {first}" if first else ""))


class ExportMismatchError(RuntimeError):
    """The exported model's output differs from PyTorch's by more than the tolerance."""


@dataclass(frozen=True)
class OpInfo:
    """One op of a converted LiteRT model; ``delegated`` says whether XNNPACK took it."""
    index: int
    name: str
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    delegated: bool


@dataclass
class ExportResult:
    path: str
    format: str                       # "tflite" | "onnx"
    input_shape: tuple[int, ...]      # of the file's input (NHWC for tflite, NCHW for onnx)
    output_shape: tuple[int, ...]
    layout: str                       # "NHWC" | "NCHW"
    max_abs_diff: float
    tol: float
    ops: list[str] = field(default_factory=list)
    not_delegated: dict[str, list[str]] = field(default_factory=dict)
    tool: str = ""
    opset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------
def hw_pair(lr_hw: int | Sequence[int]) -> tuple[int, int]:
    """``(h, w)`` from a size given as one int (square) or a pair -- how every latency function takes it."""
    return (lr_hw, lr_hw) if isinstance(lr_hw, int) else (int(lr_hw[0]), int(lr_hw[1]))


def random_input(lr_hw: int | Sequence[int], channels: int = 3, seed: int = 0) -> torch.Tensor:
    h, w = hw_pair(lr_hw)
    return torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(seed))


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, t in flags.items():
            m.train(t)


@contextlib.contextmanager
def _temp_beside(path: Path, suffix: str) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _commit(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


_ATEN = re.compile(r"(?:aten(?:::|\.)|op='aten\.)([A-Za-z0-9_]+)(?:'?, overload='([A-Za-z0-9_]+)'|\.([A-Za-z0-9_]+))?")


def _aten_ops(msg: str) -> list[str]:
    """aten op names in a converter / exporter message (``aten.median.dim``, ``aten::erfinv``...)."""
    ops = []
    for m in _ATEN.finditer(msg):
        name, overload = m.group(1), m.group(2) or m.group(3)
        ops.append(f"aten.{name}" + (f".{overload}" if overload and overload != "default" else ""))
    return list(dict.fromkeys(ops))


_UNSUPPORTED_WORDS = ("lowering not found", "not supported", "notimplemented", "not implemented",
                      "no onnx function", "unsupported", "no decompositions")


def _unsupported_aten_ops(e: BaseException, msg: str) -> list[str]:
    """aten ops named by an error that says an op is unsupported (other errors name none)."""
    low = msg.lower()
    if isinstance(e, NotImplementedError) or any(w in low for w in _UNSUPPORTED_WORDS):
        return _aten_ops(msg)
    return []


def _runtime_ops(msg: str) -> list[str]:
    """Op names in a LiteRT / onnxruntime load error."""
    pats = [r"builtin opcode '([A-Za-z0-9_]+)'", r"unresolved custom op: ([A-Za-z0-9_]+)",
            r"implementation for ([A-Za-z0-9_]+)\(", r"Op type not registered '([A-Za-z0-9_]+)'",
            r"Select TensorFlow op\(s\)[^\n]*?\b(Flex[A-Za-z0-9_]+)"]
    return list(dict.fromkeys(m for p in pats for m in re.findall(p, msg)))


def _tool_version(dist: str) -> str:
    from importlib import metadata

    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return dist


def _check_diff(diff: float, tol: float, what: str) -> None:
    if not np.isfinite(diff) or diff > tol:
        raise ExportMismatchError(f"{what}: max abs difference to PyTorch {diff:.3g} > tolerance {tol:g}")


# ------------------------------------------------------------------------------------------------------
# LiteRT
# ------------------------------------------------------------------------------------------------------
def litert_interpreter(path: str | os.PathLike, threads: int = 1, xnnpack: bool = True, **kw: Any):
    """An ``ai_edge_litert`` Interpreter; ``xnnpack=False`` disables the default XNNPACK delegate
    (``experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``). Tensors are
    allocated. A model with ops the runtime does not have raises :class:`UnsupportedOpError`."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        it = Interpreter(model_path=str(path), num_threads=int(threads), experimental_op_resolver_type=resolver,
                         **kw)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        ops = _runtime_ops(str(e))
        if ops:
            raise UnsupportedOpError("LiteRT interpreter (ai-edge-litert)", ops, str(e)) from e
        raise
    return it


def tflite_ops(path: str | os.PathLike) -> list[OpInfo]:
    """Ops of a ``.tflite`` model (primary subgraph), each marked whether XNNPACK delegates it.

    XNNPACK is applied with node fusion disabled, so every op it takes becomes its own ``DELEGATE``
    node whose outputs are that op's outputs; an op whose outputs no ``DELEGATE`` node produces runs
    on LiteRT's built-in kernel.
    """
    it = litert_interpreter(path, threads=1, xnnpack=True, experimental_disable_delegate_node_fusion=True)
    details = it._get_ops_details()
    delegated_out: set[int] = set()
    for d in details:
        if d["op_name"] == "DELEGATE":
            delegated_out.update(int(t) for t in d["outputs"])

    def shape(t: int) -> tuple[int, ...]:
        return tuple(int(v) for v in it._get_tensor_details(int(t), 0)["shape"])

    out = []
    for d in details:
        if d["op_name"] == "DELEGATE":
            continue
        outs = [int(t) for t in d["outputs"]]
        out.append(OpInfo(int(d["index"]), d["op_name"], tuple(shape(t) for t in d["inputs"] if t >= 0),
                          tuple(shape(t) for t in outs), bool(outs) and set(outs) <= delegated_out))
    return out


def xnnpack_rejected(path: str | os.PathLike) -> list[str]:
    """Names of the ops of a ``.tflite`` model that XNNPACK does not take (sorted, unique)."""
    return sorted({o.name for o in tflite_ops(path) if not o.delegated})


def _run_tflite(path: Path, x_nhwc: np.ndarray) -> np.ndarray:
    it = litert_interpreter(path, threads=1, xnnpack=True)
    inp, out = it.get_input_details(), it.get_output_details()
    if len(inp) != 1 or len(out) != 1:
        raise ValueError(f"{path}: expected one input and one output, got {len(inp)} and {len(out)}")
    it.set_tensor(inp[0]["index"], x_nhwc)
    it.invoke()
    return it.get_tensor(out[0]["index"]).copy()


def channel_last_io(model: nn.Module, xs: Sequence[torch.Tensor], outputs: Sequence[int] = (0,)
                    ) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """``model`` behind litert-torch's ``to_channel_last_io`` (every rank-4 input, and the ``outputs``, NHWC)
    and ``xs`` permuted to match: what :func:`convert_tflite` converts with ``channel_last=True``."""
    import litert_torch

    rank4 = [i for i, t in enumerate(xs) if t.dim() == 4]
    return (litert_torch.to_channel_last_io(model, args=rank4, outputs=list(outputs)),
            tuple(t.permute(0, 2, 3, 1).contiguous() if t.dim() == 4 else t for t in xs))


def convert_tflite(model: nn.Module, example: torch.Tensor | Sequence[torch.Tensor], path: str | os.PathLike,
                   *, channel_last: bool = True, outputs: Sequence[int] = (0,)) -> Path:
    """Convert ``model`` to ``path`` with litert-torch (atomic; no verification).

    ``channel_last=True``: ``example`` is NCHW and the file gets NHWC inputs (every rank-4 one) and
    outputs (those listed in ``outputs``) through ``to_channel_last_io``; ``False``: converted as given.
    Conversion errors that name an aten op raise :class:`UnsupportedOpError`.
    """
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    import litert_torch

    xs = [example] if isinstance(example, torch.Tensor) else list(example)
    path = Path(path)
    with _eval_mode(model), _temp_beside(path, ".tflite") as tmp:
        m, args = channel_last_io(model, xs, outputs) if channel_last else (model, tuple(xs))
        try:
            with _quiet(), reuse_op_table():
                edge = litert_torch.convert(m.eval(), args)
        except Exception as e:  # litert-torch raises RuntimeError / NotImplementedError / lowering errors
            ops = _unsupported_aten_ops(e, str(e))
            if ops:
                raise UnsupportedOpError(f"litert-torch converter ({_tool_version('litert-torch')})", ops,
                                         str(e)) from e
            raise
        edge.export(str(tmp))
        _commit(tmp, path)
    return path


#: Where torch 2.9-2.11 looks up its table of preservable CompositeImplicitAutograd ops (module, name).
_CIA_TABLE_USERS = (("torch._export.utils", "_collect_all_valid_cia_ops"),
                    ("torch.export.exported_program", "_collect_all_valid_cia_ops"),
                    ("torch.export.decomp_utils", "_collect_all_valid_cia_ops"))
#: Where torch 2.9-2.11 looks up the function that copies parameter / buffer metadata onto a re-traced graph.
_META_COPY_USERS = (("torch._export.utils", "_populate_param_buffer_metadata_to_new_gm"),
                    ("torch.export.exported_program", "_populate_param_buffer_metadata_to_new_gm"),
                    ("torch.export._trace", "_populate_param_buffer_metadata_to_new_gm"))


def _populate_param_buffer_metadata_once(params_buffers_to_node_meta, gm, new_sig) -> None:
    """torch's ``_populate_param_buffer_metadata_to_new_gm`` with the signature's two name maps read once:
    torch reads the properties ``inputs_to_parameters`` / ``inputs_to_buffers`` (each rebuilds a dict of every
    input) once per placeholder, quadratic in the parameters -- ~12 % of converting RCAN's 1,600 tensors."""
    for metadata in params_buffers_to_node_meta.values():
        metadata.pop("nn_module_stack", None)
        metadata.pop("stack_trace", None)
    to_param, to_buffer = dict(new_sig.inputs_to_parameters), dict(new_sig.inputs_to_buffers)
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            for names in (to_param, to_buffer):
                if node.target in names and names[node.target] in params_buffers_to_node_meta:
                    node.meta.update(params_buffers_to_node_meta[names[node.target]])


@contextlib.contextmanager
def reuse_op_table() -> Iterator[None]:
    """Within the block, two quadratic-or-repeated costs of torch.export are paid once.

    ``torch.export`` rebuilds its table of preservable CompositeImplicitAutograd ops by walking every
    registered aten op about five times per export (``_collect_all_valid_cia_ops``, documented upstream as
    never modified by its callers); for the one-kernel models of a latency table that walk is ~40 % of a
    conversion. The table depends only on the registered operators, which a conversion does not change.
    And each re-trace copies parameter metadata with a lookup per placeholder that rebuilds the signature's
    name maps (:func:`_populate_param_buffer_metadata_once` reads them once; same metadata). The files
    are byte-identical (tests/test_latency_export.py). Where torch no longer has a function, it is left
    alone."""
    import functools
    import importlib

    def users(table):
        try:
            return [(importlib.import_module(m), n) for m, n in table]
        except ImportError:
            return []

    swaps = []
    for mods, make in ((users(_CIA_TABLE_USERS), lambda f: functools.lru_cache(maxsize=1)(f)),
                       (users(_META_COPY_USERS), lambda f: _populate_param_buffer_metadata_once)):
        orig = getattr(mods[0][0], mods[0][1], None) if mods else None
        if orig is not None:
            new = make(orig)
            swaps += [(m, n, orig, new) for m, n in mods if getattr(m, n, None) is orig]
    for m, n, _, new in swaps:
        setattr(m, n, new)
    try:
        yield
    finally:
        for m, n, orig, _ in swaps:
            setattr(m, n, orig)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Python-level stdout chatter of the converters (progress lines)."""
    buf = _io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield


def export_tflite(model: nn.Module, path: str | os.PathLike, lr_hw: int | Sequence[int] = 32, *,
                  channels: int = 3, tol: float = TOL, seed: int = 0) -> ExportResult:
    """``model`` -> LiteRT ``.tflite`` at ``path`` with NHWC I/O, verified within ``tol`` (see module doc)."""
    path = Path(path)
    x = random_input(lr_hw, channels, seed)
    with _eval_mode(model), torch.no_grad():
        ref = model(x)
    if not isinstance(ref, torch.Tensor):
        raise TypeError("export needs a model that returns one tensor")
    with _temp_beside(path, ".tflite") as tmp:
        convert_tflite(model, x, tmp)
        got = _run_tflite(tmp, x.permute(0, 2, 3, 1).contiguous().numpy())
        diff = float(np.abs(got - ref.permute(0, 2, 3, 1).numpy()).max())
        _check_diff(diff, tol, f"LiteRT export of {type(model).__name__}")
        ops = tflite_ops(tmp)
        _commit(tmp, path)
    rejected = sorted({o.name for o in ops if not o.delegated})
    return ExportResult(str(path), "tflite", tuple(x.permute(0, 2, 3, 1).shape), tuple(got.shape), "NHWC", diff, tol,
                        [o.name for o in ops], {"xnnpack": rejected}, _tool_version("litert-torch"))


# ------------------------------------------------------------------------------------------------------
# ONNX
# ------------------------------------------------------------------------------------------------------
def onnx_session(path: str | os.PathLike, threads: int = 1):
    """An onnxruntime CPUExecutionProvider session; unknown ops raise :class:`UnsupportedOpError`."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as e:
        ops = _runtime_ops(str(e))
        if ops:
            raise UnsupportedOpError(f"onnxruntime {ort.__version__} CPUExecutionProvider", ops, str(e)) from e
        raise


def export_onnx(model: nn.Module, path: str | os.PathLike, lr_hw: int | Sequence[int] = 32, *,
                channels: int = 3, opset: int = ONNX_OPSET, dynamo: bool = True, tol: float = TOL,
                seed: int = 0) -> ExportResult:
    """``model`` -> ONNX at ``path`` (NCHW, static shape), verified on onnxruntime within ``tol``."""
    import onnx

    path = Path(path)
    x = random_input(lr_hw, channels, seed)
    with _eval_mode(model), torch.no_grad():
        ref = model(x)
    with _temp_beside(path, ".onnx") as tmp, _eval_mode(model):
        kw: dict[str, Any] = {"dynamo": dynamo, "opset_version": opset, "input_names": ["lr"],
                              "output_names": ["sr"]}
        if dynamo:
            kw.update(external_data=False, verbose=False)
        log = _io.StringIO()
        try:
            with contextlib.redirect_stdout(log), _warnings_off(), reuse_op_table():
                torch.onnx.export(model, (x,), str(tmp), **kw)
        except Exception as e:
            msg = f"{e}\n{e.__cause__ or ''}\n{log.getvalue()}"
            ops = _unsupported_aten_ops(e, msg)
            if ops:
                raise UnsupportedOpError(f"torch.onnx exporter (torch {torch.__version__}, opset {opset}, "
                                         f"{'dynamo' if dynamo else 'TorchScript'})", ops, str(e)) from e
            raise
        sess = onnx_session(tmp, threads=1)
        got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        diff = float(np.abs(got - ref.numpy()).max())
        _check_diff(diff, tol, f"ONNX export of {type(model).__name__}")
        proto = onnx.load(str(tmp))
        ops = [n.op_type for n in proto.graph.node]
        _commit(tmp, path)
    return ExportResult(str(path), "onnx", tuple(x.shape), tuple(got.shape), "NCHW", diff, tol, ops, {},
                        f"torch.onnx ({'dynamo' if dynamo else 'TorchScript'}) torch {torch.__version__}", opset)


@contextlib.contextmanager
def _warnings_off() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
