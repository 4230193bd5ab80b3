"""Profiles: ``srlib/profiles/{smoke,mini,paper}.yaml`` parsed into a validated, frozen :class:`Profile`.

One code path, three scales. Every key of a YAML maps to a field of a frozen dataclass below; an unknown
key, a wrong type or an unknown profile name is an error that names the key (or file) and lists the valid
choices. Paper packages add their own sections here as they land.

Where things go:
- ``root()``: the project folder (``$SRLIB_ROOT``, else the checkout that holds this package, else cwd);
- ``results_dir(profile)``: ``<root>/results/<profile>/`` (or ``$SRLIB_RESULTS/<profile>``);
- ``data_dir()``: ``<root>/data`` (or ``$SRLIB_DATA``).
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

PROFILES_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = "mini"


class ConfigError(ValueError):
    """A bad profile name, key or value. The message names it and the valid choices."""


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataConfig:
    source: str = "skimage"          # synthetic | skimage | paper
    scale: int = 4
    train_sets: tuple[str, ...] = ("skimage_train",)
    val_set: str = "skimage_val"
    test_sets: tuple[str, ...] = ("skimage_test",)
    lr_patch: int = 32               # LR side of a training patch (HR side = lr_patch * scale)
    batch_size: int = 16
    num_workers: int = 0
    max_eval_hr: int | None = None   # centre-crop evaluation HR images to at most this side (speed)
    synthetic_size: int = 64         # HR side of the generated images of the synthetic source

    def validate(self, where: str) -> None:
        _choice(f"{where}.source", self.source, ("synthetic", "skimage", "paper"))
        _choice(f"{where}.scale", self.scale, (2, 3, 4))
        _positive(f"{where}.lr_patch", self.lr_patch)
        _positive(f"{where}.batch_size", self.batch_size)
        if self.num_workers < 0:
            raise ConfigError(f"{where}.num_workers must be >= 0, got {self.num_workers}")
        if self.max_eval_hr is not None and self.max_eval_hr % self.scale:
            raise ConfigError(f"{where}.max_eval_hr={self.max_eval_hr} must be a multiple of scale "
                              f"{self.scale}")


@dataclass(frozen=True)
class EvalConfig:
    y_channel: bool = True           # PSNR/SSIM on Y of BT.601 (conventions.md)
    crop_border: int | None = None   # None = the scale ("shave = scale")
    lpips_nets: tuple[str, ...] = ("vgg", "alex")

    def validate(self, where: str) -> None:
        for net in self.lpips_nets:
            _choice(f"{where}.lpips_nets", net, ("vgg", "alex"))


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the shared training loop (srlib.training.loop)."""
    log_every: int = 10
    ckpt_every: int = 100
    deterministic: bool = True
    progress: bool = True
    # auto | fp32 | bf16: bf16 = bfloat16 autocast around each step (weights, optimizer state and losses
    # stay fp32); auto = bf16 only where the device executes it natively (srlib.training.precision)
    precision: str = "fp32"
    channels_last: bool = False      # models and batches in channels_last (NHWC) memory format

    def validate(self, where: str) -> None:
        _positive(f"{where}.log_every", self.log_every)
        _positive(f"{where}.ckpt_every", self.ckpt_every)
        _choice(f"{where}.precision", self.precision, ("auto", "fp32", "bf16"))


@dataclass(frozen=True)
class LatencyConfig:
    """Desktop-CPU proxy timings and the lookup table (srlib/latency). Never called mobile latency."""
    lr_hw: tuple[int, ...] = (128, 128)      # MFAGAN Table 3: a 128x128 LR input
    lut_lr_hw: tuple[int, ...] = (128, 128)  # input size the lookup table is built and validated at
    runtime: str = "litert_xnnpack"          # the runtime the LUT and the search target
    threads: int = 1
    warmup: int = 5
    repeats: int = 20
    max_secs: float = 150.0                   # timed runs of one benchmark stop after this (>= 3 runs; benchmark_model's --max_secs)
    export_lr_hw: tuple[int, ...] = (32, 32)  # export round-trip checks
    export_models: tuple[str, ...] = ("esrgan", "srgan", "enhancenet", "feqe", "imdn", "rfdn", "carn", "carn_m",
                                      "fmen", "rcan", "tpsr", "mfanet")
    table3_esrgan_blocks: int = 23            # the full ESRGAN (smoke times a 1-block one, and says so)
    validation_set: str = "full"              # held-out networks of the LUT validation: full | small

    def validate(self, where: str) -> None:
        _choice(f"{where}.runtime", self.runtime, ("litert_xnnpack", "litert_builtin", "onnxruntime"))
        for k in ("lr_hw", "lut_lr_hw"):
            v = getattr(self, k)
            if len(v) != 2 or min(v) < 1:
                raise ConfigError(f"{where}.{k} must be [height, width], got {list(v)}")
        _positive(f"{where}.threads", self.threads)
        _choice(f"{where}.validation_set", self.validation_set, ("full", "small"))
        _positive(f"{where}.table3_esrgan_blocks", self.table3_esrgan_blocks)
        _positive(f"{where}.repeats", self.repeats)
        if not self.max_secs > 0:
            raise ConfigError(f"{where}.max_secs must be > 0 seconds, got {self.max_secs}")
        if self.warmup < 0:
            raise ConfigError(f"{where}.warmup must be >= 0")


@dataclass(frozen=True)
class Profile:
    """A validated, frozen profile: the shared sections below plus every registered section
    (``profile.mfagan``, ``profile.baselines``, ...; see :func:`register_section`)."""
    name: str
    description: str = ""
    seed: int = 0
    seeds: tuple[int, ...] = (0,)    # seeds for multi-seed claims
    device: str = "cpu"              # cpu | cuda | auto
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    sections: Mapping[str, Any] = field(default_factory=dict)  # registered name -> its section

    def __getattr__(self, name: str) -> Any:  # only reached when normal lookup fails
        secs = self.__dict__.get("sections") or {}
        if name in secs:
            return secs[name]
        raise AttributeError(f"profile has no section or key {name!r}; sections: {', '.join(sorted(secs))}")

    def validate(self) -> None:
        _choice("device", self.device, ("cpu", "cuda", "auto"))
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if dataclasses.is_dataclass(v):
                v.validate(f.name)
        for name, sec in self.sections.items():
            sec.validate(name, self)

    @property
    def crop_border(self) -> int:
        return self.data.scale if self.eval.crop_border is None else self.eval.crop_border

    @property
    def results_dir(self) -> Path:
        return results_dir(self.name)

    def to_dict(self) -> dict:
        """Plain data, sections at the top level as in the YAML files."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sections"}
        d = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in d.items()}
        d.update({k: dataclasses.asdict(v) for k, v in self.sections.items()})
        return d

    def replace(self, overrides: Mapping[str, Any]) -> "Profile":
        """A copy with dotted-key overrides applied (``{"data.batch_size": 4}``), validated."""
        return _from_dict(_apply_overrides(self.to_dict(), overrides), source="overrides")


# --------------------------------------------------------------------------------------------------
# Sections declared by the packages that own them
# --------------------------------------------------------------------------------------------------
# Modules whose import registers a profile section, listed explicitly (no scanning) so a reader sees
# where each section is declared. Each module must be light to import (a dataclass, no torch).
SECTION_MODULES = ("srlib.baselines.config", "srlib.mfagan.config", "srlib.tpsr.config", "srlib.adasr.config", "srlib.agd.config")
_SECTIONS: dict[str, type] = {}


def register_section(name: str):
    """Class decorator: ``@register_section("mfagan")`` on a frozen dataclass with
    ``validate(self, where: str, profile: Profile)``; its YAML key is ``name`` and it is read as
    ``profile.<name>``. A section missing from a YAML file takes the dataclass defaults."""
    core = {f.name for f in dataclasses.fields(Profile)}

    def deco(cls: type) -> type:
        if name in core:
            raise ValueError(f"section name {name!r} clashes with a core profile key")
        if name in _SECTIONS and _SECTIONS[name].__qualname__ != cls.__qualname__:
            raise ValueError(f"profile section {name!r} registered twice ({_SECTIONS[name]} and {cls})")
        _SECTIONS[name] = cls
        return cls

    return deco


def sections() -> dict[str, type]:
    """Every registered section (importing :data:`SECTION_MODULES` first)."""
    for mod in SECTION_MODULES:
        importlib.import_module(mod)
    return dict(_SECTIONS)


def check_choice(key: str, value: Any, valid: tuple) -> None:
    """For sections' ``validate``: ``value`` must be one of ``valid`` (the error names the key)."""
    _choice(key, value, valid)


def check_positive(key: str, value: int) -> None:
    """For sections' ``validate``: a positive integer."""
    _positive(key, value)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
def available() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_name(name: str | None = None) -> str:
    """The profile to use: the argument, else ``$SRLIB_PROFILE``, else ``mini``."""
    return name or os.environ.get("SRLIB_PROFILE") or DEFAULT_PROFILE


def load(name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Profile:
    """Load, validate and freeze a profile; ``overrides`` uses dotted keys (``data.batch_size``)."""
    name = profile_name(name)
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown profile {name!r}; valid profiles: {', '.join(available())} "
                          f"(set SRLIB_PROFILE to one of them)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    raw.setdefault("name", name)
    if raw["name"] != name:
        raise ConfigError(f"{path}: name {raw['name']!r} does not match the file name {name!r}")
    if overrides:
        raw = _apply_overrides(raw, overrides)
    return _from_dict(raw, source=str(path))


def _apply_overrides(raw: dict, overrides: Mapping[str, Any]) -> dict:
    raw = _deepcopy(raw)
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {dotted!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return raw


def _deepcopy(d: Any) -> Any:
    return {k: _deepcopy(v) for k, v in d.items()} if isinstance(d, dict) else d


def _from_dict(raw: dict, source: str) -> Profile:
    secs = sections()
    core = {k: v for k, v in raw.items() if k not in secs}
    prof = _build(Profile, core, where="", source=source, hidden=("sections",), extra=tuple(secs))
    built = {name: _build(cls, _merge(dataclasses.asdict(cls()), raw.get(name) or {}, name, source), name, source)
             for name, cls in secs.items()}
    prof = dataclasses.replace(prof, sections=built)
    prof.validate()
    return prof


def _merge(base: dict, over: Any, where: str, source: str) -> dict:
    """``over`` (a section's YAML) merged into ``base`` (its defaults as plain data), nested mappings too."""
    if not isinstance(over, Mapping):
        raise ConfigError(f"{source}: {where} must be a mapping, got {type(over).__name__}")
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v, f"{where}.{k}", source) if isinstance(out.get(k), dict) and isinstance(v, Mapping) else v
    return out


def _build(cls: type, raw: Mapping[str, Any], where: str, source: str, hidden: tuple[str, ...] = (),
           extra: tuple[str, ...] = ()) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: {where or 'profile'} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in hidden] + list(extra)
    unknown = [k for k in raw if k not in valid]
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"{source}: unknown key {key!r}; valid keys"
                          f"{' in ' + where if where else ''}: {', '.join(valid)}")
    kwargs = {}
    for k, v in raw.items():
        key = f"{where}.{k}" if where else k
        kwargs[k] = _coerce(hints[k], v, key, source)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{source}: {where or 'profile'}: {e}") from e


def _coerce(tp: Any, v: Any, key: str, source: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build(tp, v, key, source)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], v, key, source)
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {v!r}")
        return tuple(_coerce(args[0], x, key, source) for x in v)
    if tp is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if tp in (int, float, str, bool):
        if not isinstance(v, tp) or (tp is int and isinstance(v, bool)):
            raise ConfigError(f"{source}: {key} must be {tp.__name__}, got {v!r}")
        return v
    return v


def _choice(key: str, value: Any, valid: tuple) -> None:
    if value not in valid:
        raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(map(str, valid))}")


def _positive(key: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}")


# --------------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------------
def root() -> Path:
    env = os.environ.get("SRLIB_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


def results_dir(profile: str) -> Path:
    base = os.environ.get("SRLIB_RESULTS")
    return (Path(base) if base else root() / "results") / profile


def data_dir() -> Path:
    env = os.environ.get("SRLIB_DATA")
    return Path(env).resolve() if env else root() / "data"


def main(argv: list[str] | None = None) -> int:
    """``python -m srlib.config check [NAME]``: fail fast on a bad profile (used by the Makefile)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "check":
        print("usage: python -m srlib.config check [PROFILE]", file=sys.stderr)
        return 2
    try:
        prof = load(argv[1] if len(argv) > 1 else None)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"profile {prof.name!r} OK -> {prof.results_dir}")
    return 0


if __name__ == "__main__":
    # run the imported module's main: the sections register themselves with srlib.config, not __main__
    from srlib.config import main as _main

    raise SystemExit(_main())
