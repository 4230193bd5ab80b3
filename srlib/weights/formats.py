"""Key formats of the authors' released checkpoints, mapped onto our modules, and a strict loader.

One small rename function per family turns a key of the released file into the key of our module
(``file key -> our key``); a key no rule knows passes through unchanged, so the strict loader reports it
as unused. :func:`load_strict` then requires that

* every tensor of the file is used (or excluded by a *declared*, named prefix with its reason),
* every tensor of our module is filled,
* every shape is equal,

and raises :class:`StrictLoadError` naming the offending key(s) and the file otherwise. A leading
``module.`` (``nn.DataParallel``) is stripped first, and BasicSR's ``{'params': sd}`` /
``{'params_ema': sd}`` containers are opened by :func:`unwrap`.

The key lists below were read from the released files and the authors' model code at the pinned
commits (shared/notes/released_weights.md); no code is copied from those repositories.

TPSR (royson/tpsr @ 76440813e988d02b1274907139b3319d4c3d2008, ``model.py`` and ``blocks.py``)
    ``first_layer`` -> ``stem``; ``<group>.Node_<k>_Operation_0_type_<Conv2d|Sep2d>_<K>x<K>.model.<i>.*``
    -> ``cell.nodes.<k>.<i>.*`` (a ``Conv2d_K`` node is conv + PReLU, a ``Sep2d_K`` node depthwise K (no
    bias) + PReLU + 1x1 + PReLU, the same layer order as :func:`srlib.tpsr.cell.make_op`);
    ``merge_op_act`` -> ``act``; ``up_mod.0.extend`` -> ``upsample.0``, ``up_mod.1.extend`` ->
    ``upsample.2``; ``sub_mean``/``add_mean`` keep their names. ``model.py`` wires the four groups as
    chains: ``early_layers`` (nodes 0, 1, 2) from the stem output, ``middle_main_layers`` (4, 5, 6) and
    ``middle_side_layers`` (3, 7, 8) from node 2, ``skip_layer`` (9) from the stem output, then sums
    nodes 9 + 8 + 6 -- :data:`TPSR_AUTHORS_CELL`, whose genotype (:data:`TPSR_AUTHORS_GENOTYPE`) equals
    ``srlib.tpsr.cell.TPSR_GENOTYPE`` (tested; :mod:`srlib.weights.released` also compares it with the
    built module's ``cell.genotype`` on every load). The rename checks each key's group and operation
    against that cell, so a file of a different cell is refused by name, not by a shape.
CARN-M (nmhkahn/CARN-pytorch @ 40d3514f81cccd680d846cd5ab07af35f2c8e0e2, ``carn/model/carn_m.py`` and
``carn/model/ops.py``)
    ``sub_mean.shifter``/``add_mean.shifter`` -> ``sub_mean``/``add_mean``; ``b<n>.b1.body.<j>`` (the one
    shared efficient residual unit of block n) -> ``blocks.<n-1>.unit.body.<j>``; ``b<n>.c<m>.body.0``
    -> ``blocks.<n-1>.fuse.<m-1>.0``; outer ``c<m>.body.0`` -> ``fuse.<m-1>.0``;
    ``upsample.up<s>.body.<j>`` -> ``upsample.x<s>.<j>`` (s = 2, 3, 4); ``entry``, ``exit`` unchanged.
FMEN deploy form (ofsoundof/NTIRE2022_ESR @ e95ba4a4916bb13d6348f7ee172827e2452e8a31,
``models/team03_fmen.py``)
    ``basic_blocks.<i>`` -> ``erbs.<i>``; every ``.rep_conv.`` level (a wrapper around one conv) removed;
    ``head``, ``warmup``, ``hfabs``, ``lr_conv``, ``tail`` unchanged.
RFDN, the NTIRE 2022 baseline = AIM 2020 winner (same repository and commit,
``models/rfdn_baseline/RFDN.py`` and ``block.py``)
    ``B<n>`` -> ``blocks.<n-1>``; ``c.0`` -> ``fuse.0``; ``LR_conv`` -> ``lr_conv``; the rest unchanged.
ESRGAN (shared/notes/released_weights.md; BasicSR @ d21eac885b6de90a7adef7cc59e937dbdbb200b1,
``basicsr/models/archs/rrdbnet_arch.py``, for the BasicSR names, which are ours)
    *old* (before xinntao/ESRGAN's 2019 rewrite): ``model.0`` -> ``conv_first``;
    ``model.1.sub.<i>.RDB<k>.conv<j>.0`` -> ``body.<i>.rdb<k>.conv<j>``; ``model.1.sub.<N>`` (the trunk
    conv after the N blocks) -> ``conv_body``; ``model.3`` / ``model.6`` -> ``conv_up1`` / ``conv_up2``;
    ``model.8`` -> ``conv_hr``; ``model.10`` -> ``conv_last``.
    *current* (xinntao/ESRGAN ``RRDBNet_arch.py``): ``RRDB_trunk.<i>.RDB<k>`` -> ``body.<i>.rdb<k>``;
    ``trunk_conv`` -> ``conv_body``; ``upconv1/2`` -> ``conv_up1/2``; ``HRconv`` -> ``conv_hr``.
    *BasicSR*: our own names (inside ``params`` or ``params_ema``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn

__all__ = [
    "StrictLoadError", "LoadReport", "KEYMAPS", "unwrap", "strip_module", "map_state", "load_strict",
    "tpsr_key", "carn_key", "fmen_deploy_key", "rfdn_key", "esrgan_key", "esrgan_format",
    "TPSR_AUTHORS_CELL", "TPSR_AUTHORS_GENOTYPE", "tpsr_genotype_from_authors",
]

KeyMap = Callable[[str], str]


class StrictLoadError(ValueError):
    """A released file that does not fit our module exactly; names the key(s) and the file."""

    def __init__(self, message: str, *, file: str | Path | None = None, keys: Sequence[str] = ()):
        where = f"{file}: " if file is not None else ""
        super().__init__(where + message)
        self.file = None if file is None else str(file)
        self.keys = list(keys)
        self.key = self.keys[0] if self.keys else None


@dataclass(frozen=True)
class LoadReport:
    """What a strict load used: every tensor of the file, less the declared exclusions."""
    file: str
    container: str                                  # "plain state_dict", "BasicSR 'params_ema'", ...
    n_file_tensors: int
    n_loaded_tensors: int
    n_loaded_values: int
    excluded: tuple[tuple[str, str], ...] = ()      # (file key, reason)
    stripped_module_prefix: bool = False
    renamed: Mapping[str, str] = field(default_factory=dict)   # file key -> our key (only those that differ)

    def to_dict(self) -> dict:
        return {"file": self.file, "container": self.container, "n_file_tensors": self.n_file_tensors,
                "n_loaded_tensors": self.n_loaded_tensors, "n_loaded_values": self.n_loaded_values,
                "excluded": [list(e) for e in self.excluded],
                "stripped_module_prefix": self.stripped_module_prefix}


# --------------------------------------------------------------------------------------------------
# Containers and the DataParallel prefix
# --------------------------------------------------------------------------------------------------
def unwrap(obj: Any, *, file: str | Path = "<state dict>") -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside a loaded checkpoint and a word on where it was.

    A plain ``{key: tensor}`` dict is returned as is. A BasicSR container ``{'params_ema': sd}`` and/or
    ``{'params': sd}`` yields ``params_ema`` when present (the EMA weights BasicSR evaluates), else
    ``params``; other entries of such a container are ignored and named in the returned word. Anything
    else -- a non-dict, or a dict with non-tensor values -- is a :class:`StrictLoadError`.
    """
    if not isinstance(obj, Mapping):
        raise StrictLoadError(f"holds a {type(obj).__name__}, not a state dict", file=file)
    for key in ("params_ema", "params"):
        if isinstance(obj.get(key), Mapping):
            others = sorted(k for k in obj if k != key)
            word = f"BasicSR {key!r}" + (f" (ignored: {', '.join(map(str, others))})" if others else "")
            sd = obj[key]
            break
    else:
        sd, word = obj, "plain state_dict"
    bad = [str(k) for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise StrictLoadError(f"entries that are not tensors: {', '.join(bad[:5])}"
                              + (" ..." if len(bad) > 5 else ""), file=file, keys=bad)
    return dict(sd), word


def strip_module(key: str) -> str:
    """``module.conv_first.weight`` -> ``conv_first.weight`` (DataParallel), repeated if nested."""
    while key.startswith("module."):
        key = key[len("module."):]
    return key


# --------------------------------------------------------------------------------------------------
# TPSR
# --------------------------------------------------------------------------------------------------
#: royson/tpsr @ 76440813, model.py: (group, input of the group's first node, (node, op) in chain order).
#: Input 0 is the cell input (stem output); input k+1 is node k's output (our genotype convention).
#: Ops in our names: Conv2d_K -> convK, Sep2d_K -> sepK (blocks.py BaseConv without / with depthwise_sep).
TPSR_AUTHORS_CELL: tuple[tuple[str, int, tuple[tuple[int, str], ...]], ...] = (
    ("early_layers", 0, ((0, "sep5"), (1, "conv7"), (2, "conv7"))),
    ("middle_main_layers", 3, ((4, "conv3"), (5, "conv5"), (6, "sep3"))),
    ("middle_side_layers", 3, ((3, "conv3"), (7, "conv5"), (8, "conv3"))),
    ("skip_layer", 0, ((9, "conv7"),)),
)
_TPSR_NODES = {k: (g, op) for g, _, nodes in TPSR_AUTHORS_CELL for k, op in nodes}
_TPSR_NODE = re.compile(r"^(?P<group>[a-z_]+)\.Node_(?P<k>\d+)_Operation_0_type_(?P<type>Conv2d|Sep2d)_"
                        r"(?P<K>\d+)x(?P=K)\.model\.(?P<rest>\d+\.(?:weight|bias))$")
_TPSR_RENAMES = (("first_layer.", "stem."), ("merge_op_act.", "act."),
                 ("up_mod.0.extend.", "upsample.0."), ("up_mod.1.extend.", "upsample.2."))


def tpsr_genotype_from_authors(cell=TPSR_AUTHORS_CELL) -> tuple[tuple[str, int], ...]:
    """Our genotype, ``(op, input)`` per node, of the authors' chains (:data:`TPSR_AUTHORS_CELL`)."""
    genes: dict[int, tuple[str, int]] = {}
    for _, first_input, nodes in cell:
        prev = first_input
        for k, op in nodes:
            genes[k] = (op, prev)
            prev = k + 1
    return tuple(genes[k] for k in sorted(genes))


#: The authors' published cell in our genotype form (equal to srlib.tpsr.cell.TPSR_GENOTYPE; tested, and
#: checked against the built module's ``cell.genotype`` on every load).
TPSR_AUTHORS_GENOTYPE = tpsr_genotype_from_authors()


def tpsr_key(key: str) -> str:
    """A TPSR file key -> our ``TPSRGenerator`` key; a node whose group or op is not the authors' cell's
    (:data:`TPSR_AUTHORS_CELL`) raises :class:`StrictLoadError` naming the key."""
    m = _TPSR_NODE.match(key)
    if m:
        k = int(m["k"])
        op = ("conv" if m["type"] == "Conv2d" else "sep") + m["K"]
        group, want = _TPSR_NODES.get(k, (None, "no such node"))
        if op != want:
            raise StrictLoadError(f"key {key!r} names node {k} as {op}, the published cell has {want}", keys=[key])
        if m["group"] != group:
            raise StrictLoadError(f"key {key!r} puts node {k} in {m['group']!r}; the published cell has it in "
                                  f"{group!r}, so the wiring would differ", keys=[key])
        return f"cell.nodes.{k}.{m['rest']}"
    for old, new in _TPSR_RENAMES:
        if key.startswith(old):
            return new + key[len(old):]
    return key


# --------------------------------------------------------------------------------------------------
# CARN-M
# --------------------------------------------------------------------------------------------------
_CARN_RULES = (
    (re.compile(r"^(sub_mean|add_mean)\.shifter\."), lambda m: f"{m[1]}."),
    (re.compile(r"^b([123])\.b1\.body\."), lambda m: f"blocks.{int(m[1]) - 1}.unit.body."),
    (re.compile(r"^b([123])\.c([123])\.body\.0\."), lambda m: f"blocks.{int(m[1]) - 1}.fuse.{int(m[2]) - 1}.0."),
    (re.compile(r"^c([123])\.body\.0\."), lambda m: f"fuse.{int(m[1]) - 1}.0."),
    (re.compile(r"^upsample\.up([234])\.body\."), lambda m: f"upsample.x{m[1]}."),
)


def _rules(key: str, rules) -> str:
    for pat, rep in rules:
        m = pat.match(key)
        if m:
            return rep(m) + key[m.end():]
    return key


def carn_key(key: str) -> str:
    """A CARN-M (multi-scale) file key -> our ``CARN`` key (``upsample.up4`` -> ``upsample.x4``, ...)."""
    return _rules(key, _CARN_RULES)


# --------------------------------------------------------------------------------------------------
# FMEN (deploy) and RFDN (NTIRE 2022 baseline)
# --------------------------------------------------------------------------------------------------
def fmen_deploy_key(key: str) -> str:
    """An FMEN deploy-form file key -> our ``FMEN`` key."""
    key = key.replace(".rep_conv.", ".")
    if key.startswith("basic_blocks."):
        key = "erbs." + key[len("basic_blocks."):]
    return key


_RFDN_RULES = (
    (re.compile(r"^B([1-9]\d*)\."), lambda m: f"blocks.{int(m[1]) - 1}."),
    (re.compile(r"^c\.0\."), lambda m: "fuse.0."),
    (re.compile(r"^LR_conv\."), lambda m: "lr_conv."),
)


def rfdn_key(key: str) -> str:
    """An RFDN (NTIRE 2022 ``rfdn_baseline``) file key -> our ``RFDN`` key."""
    return _rules(key, _RFDN_RULES)


# --------------------------------------------------------------------------------------------------
# ESRGAN: old, current and BasicSR names
# --------------------------------------------------------------------------------------------------
_ESRGAN_RULES = (
    # old
    (re.compile(r"^model\.0\."), lambda m: "conv_first."),
    (re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\."),
     lambda m: f"body.{m[1]}.rdb{m[2]}.conv{m[3]}."),
    (re.compile(r"^model\.1\.sub\.\d+\.(?=(weight|bias)$)"), lambda m: "conv_body."),
    (re.compile(r"^model\.3\."), lambda m: "conv_up1."),
    (re.compile(r"^model\.6\."), lambda m: "conv_up2."),
    (re.compile(r"^model\.8\."), lambda m: "conv_hr."),
    (re.compile(r"^model\.10\."), lambda m: "conv_last."),
    # current
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\."), lambda m: f"body.{m[1]}.rdb{m[2]}."),
    (re.compile(r"^trunk_conv\."), lambda m: "conv_body."),
    (re.compile(r"^upconv([12])\."), lambda m: f"conv_up{m[1]}."),
    (re.compile(r"^HRconv\."), lambda m: "conv_hr."),
)


def esrgan_key(key: str) -> str:
    """An ESRGAN file key in the old, current or BasicSR format -> our ``RRDBNet`` (BasicSR) key."""
    return _rules(key, _ESRGAN_RULES)


def esrgan_format(keys: Sequence[str]) -> str:
    """``old``, ``current``, ``basicsr`` or ``mixed`` (``module.`` prefixes ignored)."""
    kinds = set()
    for k in map(strip_module, keys):
        if k.startswith("model."):
            kinds.add("old")
        elif k.startswith(("RRDB_trunk.", "trunk_conv.", "upconv", "HRconv.")):
            kinds.add("current")
        elif k.startswith(("body.", "conv_body.", "conv_up", "conv_hr.")):
            kinds.add("basicsr")
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "basicsr")


#: key_format of :class:`srlib.weights.released.ReleasedSpec` -> its rename function.
KEYMAPS: dict[str, KeyMap] = {
    "tpsr": tpsr_key,
    "carn_multiscale": carn_key,
    "fmen_deploy": fmen_deploy_key,
    "rfdn_ntire2022": rfdn_key,
    "esrgan": esrgan_key,
}


# --------------------------------------------------------------------------------------------------
# The strict loader
# --------------------------------------------------------------------------------------------------
def map_state(state: Mapping[str, torch.Tensor], keymap: KeyMap, *, file: str | Path = "<state dict>",
              exclude: Sequence[tuple[str, str]] = ()) -> tuple[dict[str, tuple[str, torch.Tensor]],
                                                             list[tuple[str, str]], bool]:
    """``{our key: (file key, tensor)}``, the excluded ``(file key, reason)`` and whether ``module.`` was
    stripped. ``exclude`` holds ``(file-key prefix, reason)`` pairs, matched after stripping ``module.``.
    Two file keys landing on one of our keys is an error naming both."""
    mapped: dict[str, tuple[str, torch.Tensor]] = {}
    excluded: list[tuple[str, str]] = []
    stripped = False
    for fkey, t in state.items():
        key = strip_module(fkey)
        stripped |= key != fkey
        why = next((reason for prefix, reason in exclude if key.startswith(prefix)), None)
        if why is not None:
            excluded.append((fkey, why))
            continue
        try:
            ours = keymap(key)
        except StrictLoadError as e:
            raise StrictLoadError(str(e), file=file, keys=e.keys or [fkey]) from None
        if ours in mapped:
            raise StrictLoadError(f"keys {mapped[ours][0]!r} and {fkey!r} both map to our {ours!r}",
                                  file=file, keys=[mapped[ours][0], fkey])
        mapped[ours] = (fkey, t)
    return mapped, excluded, stripped


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], keymap: KeyMap, *,
                file: str | Path = "<state dict>", container: str = "plain state_dict",
                exclude: Sequence[tuple[str, str]] = ()) -> LoadReport:
    """Copy ``state`` into ``module`` through ``keymap``: every tensor used, every shape equal.

    Problems are collected and raised together as one :class:`StrictLoadError` whose message names each
    offending key of the file (unused tensor, shape mismatch) and each of our keys left empty; ``.keys``
    lists them. Nothing is copied unless everything fits.
    """
    mapped, excluded, stripped = map_state(state, keymap, file=file, exclude=exclude)
    ours = module.state_dict()
    problems: list[str] = []
    keys: list[str] = []
    for okey, (fkey, t) in mapped.items():
        if okey not in ours:
            shown = f"{fkey!r}" + (f" (read as our {okey!r})" if okey != strip_module(fkey) else "")
            problems.append(f"unused tensor {shown}: our {type(module).__name__} has no such key")
            keys.append(fkey)
        elif tuple(t.shape) != tuple(ours[okey].shape):
            problems.append(f"shape mismatch at {fkey!r}: file {tuple(t.shape)}, our {okey!r} "
                            f"{tuple(ours[okey].shape)}")
            keys.append(fkey)
    for okey in ours:
        if okey not in mapped:
            problems.append(f"missing tensor: our {okey!r} has no source in the file")
            keys.append(okey)
    if problems:
        raise StrictLoadError(f"does not fit {type(module).__name__} exactly ({len(problems)} problem(s)): "
                              + "; ".join(problems), file=file, keys=keys)
    new = {okey: t.to(dtype=ours[okey].dtype) for okey, (_, t) in mapped.items()}
    module.load_state_dict(new, strict=True)
    return LoadReport(file=str(file), container=container, n_file_tensors=len(state),
                      n_loaded_tensors=len(new), n_loaded_values=sum(t.numel() for t in new.values()),
                      excluded=tuple(excluded), stripped_module_prefix=stripped,
                      renamed={fk: ok for ok, (fk, _) in mapped.items() if ok != fk})
