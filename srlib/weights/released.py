"""The authors' released SR checkpoints: one table, verified files, strict loads, [0, 1] in and out.

Users check an evaluation pipeline against the authors' own checkpoints before they trust a retrained
number. :data:`RELEASED` is the table (URL, sha256, bytes, file format, key format, units and mean shift,
the zoo model it maps onto, the paper rows that print it); shared/notes/released_weights.md holds the
facts and where each was read.

Files live in ``<data_dir>/weights/released/`` (``$SRLIB_DATA/weights/released`` or
``<project>/data/weights/released``); a folder named by ``$SRLIB_RELEASED_DIR`` is searched first.
Nothing downloads implicitly: ``python -m srlib.weights fetch tpsr_d2`` (or :func:`fetch`) streams the
raw GitHub file ``https://github.com/OWNER/REPO/raw/COMMIT/PATH`` through
:func:`srlib.data.download.fetch` (byte count and sha256 checked before the file is kept).

ESRGAN's ``RRDB_ESRGAN_x4.pth`` / ``RRDB_PSNR_x4.pth`` are hosted on Google Drive (xinntao/ESRGAN README),
which no script here fetches: a user places the file. No sha256 is recorded for them, so they are
**not verified by checksum**; the strict load (every tensor used, every shape equal, in one of the
three key formats of :mod:`srlib.weights.formats`) is their check.

API
---
``names()``, ``spec(name)``, ``table()`` (a DataFrame of the table), ``candidates(name)``, ``path(name)``
(the verified file or :class:`~srlib.weights.backbones.WeightsUnavailable` with the fix),
``available(name) -> (bool, reason)``, ``absent_note(name)`` (the one-line reason a result row carries),
``fetch(name)``, ``load_state_dict(name)`` (raw, ``weights_only=True``), ``from_state_dict(name, obj)``
and ``load(name) -> nn.Module``: built from the zoo, strictly loaded, mean shift checked against the
table, wrapped so that it takes and returns RGB in [0, 1] like every zoo model, in eval mode, with
``.released_name`` and ``.load_report`` (:class:`~srlib.weights.formats.LoadReport`) attached.

Units
-----
* TPSR works in 0-255 with a mean shift of 255 x the DIV2K mean (royson/tpsr @ 7644081, ``blocks.py``
  MeanShift; ``evaluate.py`` feeds uint8 values as floats). Our ``TPSRGenerator`` (``rgb_range=255``)
  already multiplies its [0, 1] input by 255 and divides its output by 255, and the file's
  ``sub_mean``/``add_mean`` fill its mean-shift layers: no wrapper.
* CARN-M works in [0, 1] with the mean shift in [0, 1] units (nmhkahn/CARN-pytorch @ 40d3514,
  ``carn/model/carn_m.py``, ``ops.py`` MeanShift; ``sample.py`` multiplies the output by 255 to save):
  the file's ``*.shifter`` fill our ``MeanShift(rgb_range=1)`` layers; no wrapper.
* FMEN and RFDN of the NTIRE 2022 repository work in 0-255 without a mean shift
  (ofsoundof/NTIRE2022_ESR @ e95ba4a, ``test_demo.py`` ``select_model``: ``data_range`` 255.0 for model
  ids 3 (FMEN) and 0 (RFDN baseline)); our modules have no mean shift and no range, so
  :class:`ZeroOneIO` feeds ``x * 255`` and divides the output by 255.
* ESRGAN works in [0, 1], no mean shift (BasicSR @ d21eac8 ``inference/inference_esrgan.py`` divides by
  255 and clamps the output to [0, 1]).

After a strict load the mean-shift tensors read from the file are compared with the table's
``mean_shift`` (identity weight, bias = -/+ scale x mean): a file in other units fails by name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from . import formats
from .backbones import WeightsUnavailable, _sha256_cached, weights_dir

__all__ = [
    "ReleasedSpec", "RELEASED", "DIV2K_MEAN", "ZeroOneIO", "names", "spec", "table", "released_dir",
    "search_dirs", "candidates", "path", "available", "absent_note", "fetch", "file_sha256", "load_state_dict",
    "from_state_dict", "load",
]

#: DIV2K RGB mean used by the TPSR and CARN mean shifts (royson/tpsr blocks.py; CARN-pytorch carn_m.py).
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


@dataclass(frozen=True)
class ReleasedSpec:
    """One released checkpoint and how it maps onto our zoo."""
    name: str                 # our id: python -m srlib.weights fetch NAME
    title: str                # as the authors / papers call it
    repo: str                 # owner/name on GitHub
    commit: str               # pinned commit ("" = not fetchable from GitHub)
    repo_path: str            # path inside the repository
    filename: str             # file name under <data>/weights/released/
    sha256: str               # full sha256 ("" = unverified by checksum: the strict key check only)
    size: int | None          # bytes
    file_format: str          # how the file is serialised
    key_format: str           # formats.KEYMAPS key
    units: str                # the range the released network works in, and how we bridge it
    wrapper_scale: float      # ZeroOneIO factor (1 = our module takes [0, 1] as it is)
    mean_shift: tuple[float, tuple[float, float, float]] | None   # (scale, RGB mean) held in the file
    model: str                # srlib.models name
    kwargs: Mapping[str, Any] = field(default_factory=dict)       # build kwargs
    printed: tuple[tuple[str, str, str], ...] = ()                # (paper, table, model) in srlib/reference
    perceptual: bool = False  # GAN-trained: its PSNR may be below a PSNR-oriented model's, even bicubic's
    exclude: tuple[tuple[str, str], ...] = ()                     # declared (file-key prefix, reason)
    alt_filenames: tuple[str, ...] = ()                           # other accepted names (user-placed files)
    hosted: str = ""          # where a non-fetchable file is hosted
    source: str = ""          # where each fact above was read
    eval_note: str = ""       # the authors' evaluation convention, where it differs from ours
    base_url: str = "https://github.com"   # a mirror serving OWNER/REPO/raw/COMMIT/PATH may stand in

    @property
    def url(self) -> str:
        """Raw file URL at the pinned commit, "" when no script can fetch the file."""
        if not (self.repo and self.commit):
            return ""
        return f"{self.base_url}/{self.repo}/raw/{self.commit}/{self.repo_path}"

    @property
    def verified(self) -> bool:
        """Whether a sha256 is recorded (else the strict key check is the only check)."""
        return bool(self.sha256)

    @property
    def units_short(self) -> str:
        """The file's units in a few words (for result-row notes)."""
        if self.mean_shift is not None:
            sc = self.mean_shift[0]
            return (f"file in {'0-255' if sc == 255 else '[0,1]'} with a mean shift of "
                    f"{'255 x ' if sc == 255 else ''}DIV2K mean (mapped onto our MeanShift layers)")
        if self.wrapper_scale != 1.0:
            r = f"{self.wrapper_scale:g}"
            return f"file in 0-{r}, no mean shift (x{r} in, /{r} out)"
        return "file in [0,1], no mean shift"

    @property
    def check(self) -> str:
        return (f"sha256 {self.sha256} ({self.size} bytes)" if self.verified else
                "UNVERIFIED BY CHECKSUM (no sha256 recorded): key set and shapes checked by the strict load")


_TPSR = dict(repo="royson/tpsr", commit="76440813e988d02b1274907139b3319d4c3d2008",
             file_format="legacy (non-zip) torch pickle, plain state_dict of 45 tensors saved on CUDA "
                         "(loaded weights_only onto the CPU)",
             key_format="tpsr",
             units="0-255 with a mean shift of 255 x DIV2K mean held in the file (sub_mean/add_mean); our "
                   "TPSRGenerator(rgb_range=255) converts [0,1] <-> 0-255 itself, the file's mean shift fills "
                   "its MeanShift layers: no wrapper",
             wrapper_scale=1.0, mean_shift=(255.0, DIV2K_MEAN), model="tpsr",
             source="royson/tpsr @ 76440813 (README.md, model.py, blocks.py, evaluate.py, utils.py); "
                    "sizes/sha256: shared/notes/released_weights.md",
             eval_note="authors' evaluate.py: 0-255 float input, output clamped to [0,255] and rounded, "
                       "Y (BT.601, 16-235) PSNR with a 4-pixel shave -- the same as ours")
_NTIRE = dict(repo="ofsoundof/NTIRE2022_ESR", commit="e95ba4a4916bb13d6348f7ee172827e2452e8a31",
              wrapper_scale=255.0, mean_shift=None,
              eval_note="challenge test_demo.py: RGB PSNR/SSIM (calculate_psnr on the uint8 RGB image, border "
                        "4) on DIV2K valid/test; ours is Y PSNR")

RELEASED: dict[str, ReleasedSpec] = {s.name: s for s in (
    ReleasedSpec(
        name="tpsr_nogan", title="TPSR-NOGAN x4", repo_path="pretrained/TPSR_NOGANX4.pt",
        filename="TPSR_NOGANX4.pt", size=256_415,
        sha256="2951ceca75f792056cdbac1159ee8d927d2bd353c4fd7e674290cfd368327ab7", **_TPSR,
        printed=(), perceptual=False),
    ReleasedSpec(
        name="tpsr_esrgan", title="TPSR-ESRGAN x4 (TPSR generator, ESRGAN's discriminator)",
        repo_path="pretrained/TPSR_ESRGANX4.pt", filename="TPSR_ESRGANX4.pt", size=256_487,
        sha256="bcf2a9cfa886585e062995644f7da06f519a53c8aeb0b6b47d5f6a45bbb5dbc1", **_TPSR,
        printed=(), perceptual=True),
    ReleasedSpec(
        name="tpsr_d2", title="TPSR-D2 x4 (TPSR generator, searched discriminator D2)",
        repo_path="pretrained/TPSR_D2X4.pt", filename="TPSR_D2X4.pt", size=256_459,
        sha256="bf86676b483cad500369cbc112a02149e68bc4e275fbd6fb3de8fd1a2af23bfc", **_TPSR,
        printed=(("tpsr", "table1", "tpsr"),), perceptual=True),
    ReleasedSpec(
        name="carn_m", title="CARN-M (multi-scale x2/x3/x4; the x4 branch is evaluated)",
        repo="nmhkahn/CARN-pytorch", commit="40d3514f81cccd680d846cd5ab07af35f2c8e0e2",
        repo_path="checkpoint/carn_m.pth", filename="carn_m.pth", size=1_670_695,
        sha256="d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff",
        file_format="legacy (non-zip) torch pickle, plain state_dict of 58 tensors",
        key_format="carn_multiscale",
        units="[0,1] with a mean shift of DIV2K mean in [0,1] units held in the file (sub_mean/add_mean.shifter) "
              "-> our MeanShift(rgb_range=1): no wrapper",
        wrapper_scale=1.0, mean_shift=(1.0, DIV2K_MEAN), model="carn_m", kwargs={"multi_scale": True},
        printed=(("adasr", "table1", "carn_m"),), perceptual=False,
        source="nmhkahn/CARN-pytorch @ 40d3514 (carn/model/carn_m.py, carn/model/ops.py, carn/sample.py); "
               "sizes/sha256: shared/notes/released_weights.md",
        eval_note="CARN's sample.py saves outputs truncated (mul(255).clamp(0,255).byte()), not rounded, and "
                  "leaves the metric to MATLAB; AdaSR Table 1 reprints the CARN paper's CARN-M row"),
    ReleasedSpec(
        name="fmen", title="FMEN x4 (NTIRE 2022 ESR, team03, deploy form)", repo_path="model_zoo/team03_fmen.pth",
        filename="team03_fmen.pth", size=1_390_483,
        sha256="f20cde0828068c5f50d3b64aa82c8a363fe6abc8d536d1a9fd4d09899f019bea",
        file_format="zip torch file, plain state_dict of 68 tensors (re-parameterised deploy form)",
        key_format="fmen_deploy",
        units="0-255, no mean shift (test_demo.py data_range 255.0): ZeroOneIO feeds x*255, divides by 255",
        model="fmen", printed=(), perceptual=False,
        source="ofsoundof/NTIRE2022_ESR @ e95ba4a (models/team03_fmen.py, test_demo.py select_model id 3); "
               "sizes/sha256: shared/notes/released_weights.md", **_NTIRE),
    ReleasedSpec(
        name="rfdn", title="RFDN x4 (AIM 2020 winner; NTIRE 2022 ESR baseline)",
        repo_path="model_zoo/rfdn_baseline.pth", filename="rfdn_baseline.pth", size=1_754_927,
        sha256="11af8ec8ebd68689e90ef1e29044f9804c72d3bd9f7573820b7b26035782760c",
        file_format="legacy (non-zip) torch pickle, plain state_dict of 128 tensors",
        key_format="rfdn_ntire2022",
        units="0-255, no mean shift (test_demo.py data_range 255.0): ZeroOneIO feeds x*255, divides by 255",
        model="rfdn", printed=(), perceptual=False,
        source="ofsoundof/NTIRE2022_ESR @ e95ba4a (models/rfdn_baseline/RFDN.py, block.py, test_demo.py "
               "select_model id 0); sha256 and bytes computed from the file at that commit", **_NTIRE),
    ReleasedSpec(
        name="esrgan", title="ESRGAN x4 (RRDB_ESRGAN_x4.pth)", repo="xinntao/ESRGAN", commit="",
        repo_path="models/RRDB_ESRGAN_x4.pth", filename="RRDB_ESRGAN_x4.pth", sha256="", size=None,
        alt_filenames=("ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",),
        file_format="torch .pth placed by the user; old (model.N.sub...), current (RRDB_trunk...) or BasicSR "
                    "(params/params_ema, body.N.rdbK...) keys, optional module. prefix",
        key_format="esrgan", units="[0,1], no mean shift: no wrapper", wrapper_scale=1.0, mean_shift=None,
        model="esrgan", printed=(("tpsr", "table1", "esrgan"), ("mfagan", "table2", "esrgan")), perceptual=True,
        hosted="Google Drive links in the xinntao/ESRGAN README (BasicSR's converted copy "
               "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth: Google Drive id in BasicSR "
               "scripts/download_pretrained_models.py @ d21eac8)",
        source="shared/notes/released_weights.md (key formats); BasicSR @ d21eac8 "
               "(basicsr/models/archs/rrdbnet_arch.py, inference/inference_esrgan.py)",
        eval_note="TPSR and MFAGAN evaluate ESRGAN themselves (reference convention column)"),
    ReleasedSpec(
        name="esrgan_psnr", title="RRDB PSNR-oriented x4 (RRDB_PSNR_x4.pth)", repo="xinntao/ESRGAN", commit="",
        repo_path="models/RRDB_PSNR_x4.pth", filename="RRDB_PSNR_x4.pth", sha256="", size=None,
        alt_filenames=("ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth",),
        file_format="torch .pth placed by the user; old, current or BasicSR keys, optional module. prefix",
        key_format="esrgan", units="[0,1], no mean shift: no wrapper", wrapper_scale=1.0, mean_shift=None,
        model="esrgan", printed=(), perceptual=False,
        hosted="Google Drive links in the xinntao/ESRGAN README (BasicSR's converted copy "
               "ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth)",
        source="shared/notes/released_weights.md; BasicSR @ d21eac8"),
)}


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------
def names() -> list[str]:
    return list(RELEASED)


def spec(name: str) -> ReleasedSpec:
    try:
        return RELEASED[name]
    except KeyError:
        raise KeyError(f"unknown released checkpoint {name!r}; valid: {', '.join(RELEASED)}") from None


def table(check_files: bool = True):
    """The released-checkpoint table as a DataFrame (one row per file), with its status here."""
    import pandas as pd

    rows = []
    for s in RELEASED.values():
        ok, why = available(s.name) if check_files else (False, "")
        rows.append({
            "name": s.name, "title": s.title,
            "source": f"{s.repo}@{s.commit[:8]}:{s.repo_path}" if s.commit else f"{s.repo}: {s.repo_path}",
            "url": s.url or f"none: {s.hosted}", "check": s.check, "format": s.file_format,
            "key_format": s.key_format, "units": s.units, "wrapper_scale": s.wrapper_scale,
            "zoo_model": s.model + (f" {dict(s.kwargs)}" if s.kwargs else ""),
            "printed_in": "; ".join(f"{p} {t} ({m})" for p, t, m in s.printed) or "-",
            "authors_evaluation": s.eval_note or "-",
            "status": "present" if ok else ("absent" if check_files else ""),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------
def released_dir() -> Path:
    """``<data_dir>/weights/released``."""
    return weights_dir() / "released"


def search_dirs() -> list[Path]:
    """``$SRLIB_RELEASED_DIR`` (if set), then ``<data>/weights/released``."""
    env = os.environ.get("SRLIB_RELEASED_DIR")
    return ([Path(env).expanduser()] if env else []) + [released_dir()]


def candidates(name: str) -> list[Path]:
    """Where the file of ``name`` is looked for, in order."""
    s = spec(name)
    return [d / f for d in search_dirs() for f in (s.filename, *s.alt_filenames)]


def file_sha256(p: str | Path) -> str:
    """sha256 of a file, hashed once per process (keyed by path, inode, size and times)."""
    return _sha256_cached(Path(p))


def _fix(s: ReleasedSpec) -> str:
    if s.url:
        return (f"Fix: python -m srlib.weights fetch {s.name}  (downloads {s.url} into {released_dir()}/ and "
                f"verifies its sha256), or download that URL elsewhere and copy {s.filename} into "
                f"{released_dir()}/.")
    alt = f" (or BasicSR's copy under its own name {', '.join(s.alt_filenames)})" if s.alt_filenames else ""
    return (f"Fix: download it by hand ({s.hosted}) and place it at {released_dir() / s.filename}{alt}. "
            "No sha256 is recorded for it: srlib checks its key set and shapes strictly when loading instead.")


def path(name: str) -> Path:
    """The file of ``name``: verified by size and sha256 where recorded; else present (unverified).

    Raises :class:`~srlib.weights.backbones.WeightsUnavailable` whose ``reason`` names the file, where it
    was looked for and the fix (the fetch command, or where to place a file no script can fetch).
    """
    s = spec(name)
    problems = []
    for p in candidates(name):
        if not p.is_file():
            continue
        if not s.verified:
            return p
        n = p.stat().st_size
        if s.size is not None and n != s.size:
            problems.append(f"{p} has {n} bytes, expected {s.size} (truncated or a different file)")
            continue
        got = file_sha256(p)
        if got != s.sha256:
            problems.append(f"{p} has sha256 {got}, expected {s.sha256} (corrupt or a different file)")
            continue
        return p
    looked = " and ".join(str(d) for d in search_dirs())
    if problems:
        reason = f"{s.filename} failed verification: " + "; ".join(problems) + f". Delete it. {_fix(s)}"
    else:
        reason = f"{s.filename} ({s.title}) is not in {looked} (srlib never downloads weights implicitly). {_fix(s)}"
    raise WeightsUnavailable(name, reason)


def available(name: str) -> tuple[bool, str]:
    """``(True, "")`` if the (verified, where a sum is recorded) file is present, else ``(False, reason)``."""
    try:
        path(name)
    except WeightsUnavailable as e:
        return False, e.reason
    return True, ""


def absent_note(name: str) -> str:
    """The short reason a result row carries when the file of ``name`` is absent."""
    s = spec(name)
    if s.url:
        return f"weights absent: python -m srlib.weights fetch {s.name}"
    where = s.hosted.split(" (")[0]
    return (f"weights absent: place the file at {released_dir() / s.filename} ({where}; no script can fetch "
            "it; no checksum is recorded, the strict key check verifies it)")


def fetch(name: str, *, timeout: float | None = None, progress: bool = True) -> Path:
    """Download ``name`` into ``<data>/weights/released`` and verify it (a no-op when already verified)."""
    from ..data.download import DEFAULT_TIMEOUT, fetch as download_fetch

    s = spec(name)
    ok, _ = available(name)
    if ok:
        return path(name)
    if not s.url or not s.verified:
        raise WeightsUnavailable(name, f"{s.filename} cannot be fetched by a script. {_fix(s)}")
    return download_fetch(s.url, released_dir() / s.filename, s.sha256, size=s.size,
                          timeout=DEFAULT_TIMEOUT if timeout is None else timeout, progress=progress)


def load_state_dict(name: str) -> Any:
    """The file of ``name`` as loaded with ``torch.load(weights_only=True)`` onto the CPU (not unwrapped)."""
    from ..io import torch_load

    p = path(name)
    try:
        return torch_load(p, map_location="cpu")
    except ValueError as e:   # bytes that are not a weights-only checkpoint
        raise WeightsUnavailable(name, str(e)) from e


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------
class ZeroOneIO(nn.Module):
    """RGB in [0, 1] in and out around a network that works in 0-``rgb_range``: ``net(x * r) / r``."""

    def __init__(self, net: nn.Module, rgb_range: float):
        super().__init__()
        self.net = net
        self.rgb_range = float(rgb_range)
        self.scale = getattr(net, "scale", 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.rgb_range) / self.rgb_range

    def extra_repr(self) -> str:
        return f"rgb_range={self.rgb_range:g}"


def _check_mean_shift(s: ReleasedSpec, net: nn.Module, report: formats.LoadReport, file: str) -> None:
    """The file's mean-shift tensors must be identity weight and bias -/+ scale x mean (the table's units)."""
    if s.mean_shift is None:
        return
    scale, mean = s.mean_shift
    back = {ours: fk for fk, ours in report.renamed.items()}
    for attr, sign in (("sub_mean", -1.0), ("add_mean", 1.0)):
        layer = getattr(net, attr, None)
        if not isinstance(layer, nn.Conv2d):
            raise formats.StrictLoadError(f"the table gives a mean shift but our {type(net).__name__} has no "
                                          f"{attr} layer", file=file, keys=[attr])
        want_b = sign * scale * torch.tensor(mean)
        checks = ((f"{attr}.weight", layer.weight.detach().view(3, 3), torch.eye(3)),
                  (f"{attr}.bias", layer.bias.detach(), want_b))
        for key, got, want in checks:
            if not torch.allclose(got.float(), want, rtol=1e-4, atol=1e-4 * max(1.0, scale)):
                raise formats.StrictLoadError(
                    f"units: {back.get(key, key)!r} holds {got.flatten().tolist()}, the table's mean shift "
                    f"({scale:g} x {mean}) expects {want.flatten().tolist()} -- the file is in other units",
                    file=file, keys=[back.get(key, key)])


def from_state_dict(name: str, obj: Any, *, file: str | Path = "<state dict>", **build_kwargs) -> nn.Module:
    """Build ``name``'s zoo model, load ``obj`` (a state dict or BasicSR container) strictly, check its
    mean shift, wrap it to [0, 1] in/out and put it in eval mode. ``build_kwargs`` override the table's
    (e.g. a small ESRGAN for tests)."""
    from .. import models

    s = spec(name)
    sd, container = formats.unwrap(obj, file=file)
    net = models.build(s.model, **{**dict(s.kwargs), **build_kwargs})
    if s.key_format == "tpsr":   # the file's node names encode the authors' cell: ours must be that cell
        got = tuple(getattr(getattr(net, "cell", None), "genotype", ()))
        if got != formats.TPSR_AUTHORS_GENOTYPE:
            raise formats.StrictLoadError(f"our {type(net).__name__} cell {got} is not the published cell "
                                          f"{formats.TPSR_AUTHORS_GENOTYPE}", file=file)
    report = formats.load_strict(net, sd, formats.KEYMAPS[s.key_format], file=file, container=container,
                                 exclude=s.exclude)
    _check_mean_shift(s, net, report, str(file))
    model = ZeroOneIO(net, s.wrapper_scale) if s.wrapper_scale != 1.0 else net
    model.eval()
    model.released_name = name
    model.load_report = report
    return model


def load(name: str, *, device: str | torch.device = "cpu") -> nn.Module:
    """The released model ``name``: verified file, strict load, [0, 1] in/out, eval mode, on ``device``."""
    p = path(name)
    return from_state_dict(name, load_state_dict(name), file=p).to(device)


# --------------------------------------------------------------------------------------------------
# The architecture of a released checkpoint, as a zoo name (so a cached stage that stores a released
# model's weights can be rebuilt by srlib.training.runs.load_model like any trained model)
# --------------------------------------------------------------------------------------------------
def _register() -> None:
    from ..models import register

    @register("released")
    def released_architecture(checkpoint: str) -> nn.Module:
        """The module :func:`load` returns for ``checkpoint`` (same wrapper, same keys), randomly
        initialised: a stage loads the released weights into it."""
        s = spec(checkpoint)
        from .. import models

        net = models.build(s.model, **dict(s.kwargs))
        return ZeroOneIO(net, s.wrapper_scale) if s.wrapper_scale != 1.0 else net


_register()
