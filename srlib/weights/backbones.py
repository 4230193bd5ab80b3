"""Pretrained ImageNet backbones, checksummed: VGG19 (perceptual loss), VGG16 and AlexNet (LPIPS).

(The authors' released SR checkpoints are in :mod:`srlib.weights.released`; everything public here is
re-exported as ``srlib.weights.X``.)

The files are torchvision's own checkpoints (same URLs and file names; the 8 hex digits in a torchvision
file name are the start of its sha256). Here the *full* sha256 and byte count are checked, so a truncated
or substituted file is never used.

Where a file is looked for, in order:

1. ``<data_dir>/weights/<filename>`` (``$SRLIB_DATA/weights`` or ``<project>/data/weights``);
2. torch's hub cache ``$TORCH_HOME/hub/checkpoints/<filename>`` (default ``~/.cache/torch/hub/checkpoints``),
   where ``torchvision`` itself would have put it.

``path(name)`` returns the verified file or raises :class:`WeightsUnavailable` whose ``reason`` names the
file, the URL and the fix. Nothing downloads implicitly: ``fetch(name)`` (or
``python -m srlib.weights fetch vgg19``) downloads into ``<data_dir>/weights`` through
:func:`srlib.data.download.fetch`. ``load_state_dict(name)`` loads with ``torch.load(weights_only=True)``.

Consumers must never fall back to random weights: :mod:`srlib.metrics.lpips` reports LPIPS as unavailable
(with the reason) and :class:`srlib.training.vgg.VGGFeatures` raises.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WeightSpec", "WEIGHTS", "WeightsUnavailable", "weights_dir", "hub_checkpoints_dir", "candidates",
           "path", "available", "fetch", "load_state_dict"]


@dataclass(frozen=True)
class WeightSpec:
    name: str
    filename: str
    url: str
    sha256: str          # full sha256 of the file ("" = unknown: then the file is refused)
    size: int | None     # bytes
    used_by: str
    note: str


# Full sha256 sums: recorded identically by several independent public projects that pin torchvision's
# checkpoints (manifests and download scripts found by code search), each consistent with the 8-hex-digit
# sha256 prefix torchvision puts in the file name and with the published byte counts. The same sources
# give lpips' linear-layer sums, which match the files shipped in lpips 0.1.4 byte for byte.
WEIGHTS: dict[str, WeightSpec] = {
    "vgg19": WeightSpec(
        name="vgg19", filename="vgg19-dcbb9e9d.pth",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", size=574_673_361,
        used_by="VGG19 perceptual loss (srlib.training.vgg.VGGFeatures; ESRGAN/MFAGAN conv5_4)",
        note="torchvision VGG19_Weights.IMAGENET1K_V1"),
    "vgg16": WeightSpec(
        name="vgg16", filename="vgg16-397923af.pth",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", size=553_433_881,
        used_by="LPIPS v0.1 'vgg' backbone (srlib.metrics.lpips)",
        note="torchvision VGG16_Weights.IMAGENET1K_V1"),
    "alexnet": WeightSpec(
        name="alexnet", filename="alexnet-owt-7be5be79.pth",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", size=244_408_911,
        used_by="LPIPS v0.1 'alex' backbone (srlib.metrics.lpips)",
        note="torchvision AlexNet_Weights.IMAGENET1K_V1"),
}


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are absent or fail verification; ``reason`` says which file, where and the fix."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"pretrained weights {name!r} unavailable: {reason}")
        self.name = name
        self.reason = reason


def _spec(name: str) -> WeightSpec:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise KeyError(f"unknown weights {name!r}; valid: {', '.join(WEIGHTS)}") from None


def weights_dir() -> Path:
    from ..config import data_dir

    return data_dir() / "weights"


def hub_checkpoints_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` as torch resolves it (``~/.cache/torch/...`` by default)."""
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home:
        return Path(torch_home).expanduser() / "hub" / "checkpoints"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "torch" / "hub" / "checkpoints"


def candidates(name: str) -> list[Path]:
    spec = _spec(name)
    return [weights_dir() / spec.filename, hub_checkpoints_dir() / spec.filename]


# (path, inode, size, mtime_ns, ctime_ns) -> sha256, so a 550 MB file is hashed once per process.
_HASHED: dict[tuple, str] = {}


def _sha256_cached(p: Path) -> str:
    from ..io import sha256_file

    st = p.stat()
    key = (str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _HASHED:
        _HASHED[key] = sha256_file(p)
    return _HASHED[key]


def _fix(spec: WeightSpec) -> str:
    return (f"Fix: python -m srlib.weights fetch {spec.name}  (downloads {spec.url} into {weights_dir()}/ and "
            f"verifies its sha256), or download that URL on a machine with internet access and copy "
            f"{spec.filename} into {weights_dir()}/ or {hub_checkpoints_dir()}/.")


def path(name: str) -> Path:
    """The verified weight file for ``name`` (``vgg19``, ``vgg16``, ``alexnet``).

    Raises :class:`WeightsUnavailable` when no candidate exists or none has the expected size and sha256.
    """
    spec = _spec(name)
    problems = []
    for p in candidates(name):
        if not p.is_file():
            continue
        n = p.stat().st_size
        if spec.size is not None and n != spec.size:
            problems.append(f"{p} has {n} bytes, expected {spec.size} (truncated or a different file)")
            continue
        if not spec.sha256:
            problems.append(f"{p} exists but no sha256 is recorded for {spec.filename}, so it cannot be verified")
            continue
        got = _sha256_cached(p)
        if got != spec.sha256:
            problems.append(f"{p} has sha256 {got}, expected {spec.sha256} (corrupt or a different file)")
            continue
        return p
    looked = " and ".join(str(p) for p in candidates(name))
    if problems:
        reason = f"{spec.filename} failed verification: " + "; ".join(problems) + f". Delete it. {_fix(spec)}"
    else:
        reason = (f"{spec.filename} (needed for {spec.used_by}) is not in {looked} (srlib never downloads "
                  f"weights implicitly). {_fix(spec)}")
    raise WeightsUnavailable(name, reason)


def available(name: str) -> tuple[bool, str]:
    """``(True, "")`` if the verified file is present, else ``(False, reason)``."""
    try:
        path(name)
    except WeightsUnavailable as e:
        return False, e.reason
    return True, ""


def fetch(name: str, *, timeout: float | None = None, progress: bool = True) -> Path:
    """Download ``name`` into ``<data_dir>/weights`` and verify it (a no-op when already verified)."""
    from ..data.download import DEFAULT_TIMEOUT, fetch as download_fetch

    spec = _spec(name)
    ok, _ = available(name)
    if ok:
        return path(name)
    if not spec.sha256:
        raise WeightsUnavailable(name, f"no sha256 is recorded for {spec.filename}; refusing to download it "
                                       "unverified")
    return download_fetch(spec.url, weights_dir() / spec.filename, spec.sha256, size=spec.size,
                          timeout=DEFAULT_TIMEOUT if timeout is None else timeout, progress=progress)


def load_state_dict(name: str) -> dict:
    """The verified checkpoint as a state dict, loaded with ``weights_only=True`` onto the CPU."""
    from ..io import torch_load

    p = path(name)
    try:
        sd = torch_load(p, map_location="cpu")
    except ValueError as e:  # verified bytes that are not a weights-only state dict
        raise WeightsUnavailable(name, str(e)) from e
    if not isinstance(sd, dict):
        raise WeightsUnavailable(name, f"{p} does not hold a state dict (got {type(sd).__name__})")
    return sd
