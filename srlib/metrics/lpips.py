"""LPIPS v0.1 (Zhang et al. 2018), 'vgg' and 'alex' variants, with verified weights only.

The ``lpips`` package ships the v0.1 linear calibration layers (``lpips/weights/v0.1/{vgg,alex}.pth``) but
would fetch the ImageNet backbone through torchvision's downloader. Here the package's network is built
with a *random* trunk (``pnet_rand=True``: nothing is downloaded) and then **both** parts are overwritten
with verified weights before use:

- the linear layers from the package's own files, after checking their sha256 (``LINEAR_SHA256``);
- the backbone (torchvision VGG16 / AlexNet) from :mod:`srlib.weights`, loaded strictly, key by key.

So a number called LPIPS is never computed with a random or partially loaded network. When a backbone is
absent, :func:`lpips_available` returns ``(False, reason)`` and :class:`LPIPSMetric` / :func:`lpips` raise
:class:`srlib.weights.WeightsUnavailable`; the caller reports LPIPS as unavailable with that reason.

Conventions (shared/notes/conventions.md): RGB in [0, 1] is mapped to [-1, 1] as LPIPS expects, the whole
image is used (no crop, no Y channel), and the spatial average over the image gives one value per image.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..weights import WeightsUnavailable, available as weights_available, load_state_dict

__all__ = ["NETS", "LINEAR_SHA256", "lpips_available", "LPIPSMetric", "cached_metric", "lpips",
           "WeightsUnavailable"]

# LPIPS net -> srlib.weights name of its torchvision backbone.
NETS = {"vgg": "vgg16", "alex": "alexnet"}

# sha256 of the v0.1 linear layers shipped in lpips 0.1.4 (weights/v0.1/<net>.pth). Checked against the
# installed files and against independent public manifests that pin the same files.
LINEAR_SHA256 = {
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
}


def _check_net(net: str) -> None:
    if net not in NETS:
        raise ValueError(f"unknown LPIPS net {net!r}; choose one of: {', '.join(NETS)}")


def _linear_path(net: str) -> Path:
    import lpips as lpips_pkg

    return Path(lpips_pkg.__file__).resolve().parent / "weights" / "v0.1" / f"{net}.pth"


def _linear_problem(net: str) -> str:
    """'' when the package's v0.1 linear layers for ``net`` are present and verified, else the reason."""
    try:
        p = _linear_path(net)
    except ImportError as e:
        return f"the lpips package is not installed ({e}); install the project's dependencies (lpips==0.1.4)"
    if not p.is_file():
        return f"the lpips package has no linear-layer file {p}; reinstall lpips==0.1.4"
    from ..io import sha256_file

    got = sha256_file(p)
    if got != LINEAR_SHA256[net]:
        return (f"{p} has sha256 {got}, expected {LINEAR_SHA256[net]} (not lpips 0.1.4's v0.1 layers); "
                "reinstall lpips==0.1.4")
    return ""


def lpips_available(net: str = "vgg") -> tuple[bool, str]:
    """``(True, "")`` when LPIPS-``net`` can be computed with verified weights, else ``(False, reason)``."""
    try:
        _check_net(net)
    except ValueError as e:
        return False, str(e)
    problem = _linear_problem(net)
    if problem:
        return False, problem
    return weights_available(NETS[net])


def _backbone_state(model_net: torch.nn.Module, tv_state: dict, net: str) -> dict:
    """Map torchvision's ``features.<i>.<param>`` keys onto lpips' ``slice<k>.<i>.<param>`` keys."""
    mapped, missing = {}, []
    for key in model_net.state_dict():
        _slice, idx, param = key.split(".")
        tv_key = f"features.{idx}.{param}"
        if tv_key in tv_state:
            mapped[key] = tv_state[tv_key]
        else:
            missing.append(tv_key)
    if missing:
        raise WeightsUnavailable(NETS[net], f"the {NETS[net]} checkpoint lacks {missing[:4]}"
                                            f"{' ...' if len(missing) > 4 else ''}; it is not torchvision's file")
    return mapped


class LPIPSMetric(torch.nn.Module):
    """LPIPS v0.1 with verified weights. ``metric(sr, hr)`` -> one distance per image (tensor ``(N,)``).

    Inputs are RGB tensors in [0, 1], shaped ``(N, 3, H, W)`` or ``(3, H, W)``. Raises
    :class:`WeightsUnavailable` at construction when the backbone (or the linear layers) are missing.
    """

    def __init__(self, net: str = "vgg", device: str | torch.device | None = None):
        super().__init__()
        _check_net(net)
        problem = _linear_problem(net)
        if problem:
            raise WeightsUnavailable(NETS[net], problem)
        tv_state = load_state_dict(NETS[net])          # verified file, weights_only=True

        import lpips as lpips_pkg
        from ..io import torch_load

        with warnings.catch_warnings():                  # torchvision's 'pretrained' deprecation notice
            warnings.simplefilter("ignore", UserWarning)
            model = lpips_pkg.LPIPS(pretrained=False, net=net, version="0.1", lpips=True, spatial=False,
                                    pnet_rand=True, verbose=False)
        lin_state = torch_load(_linear_path(net), map_location="cpu")
        own = model.state_dict()
        stray = [k for k in lin_state if k not in own]
        if stray or not all(own[k].shape == v.shape for k, v in lin_state.items()):
            raise WeightsUnavailable(NETS[net], f"{_linear_path(net)} does not fit LPIPS-{net} "
                                                f"(unexpected keys {stray})")
        model.load_state_dict(lin_state, strict=False)   # the linear layers only; checked above
        try:
            model.net.load_state_dict(_backbone_state(model.net, tv_state, net), strict=True)
        except RuntimeError as e:                        # wrong shapes
            raise WeightsUnavailable(NETS[net], f"the {NETS[net]} checkpoint does not fit LPIPS-{net}: {e}") from e
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.net = net
        self.model = model
        if device is not None:
            self.to(device)

    def train(self, mode: bool = True) -> "LPIPSMetric":
        return super().train(False)                      # a metric: always in eval mode

    @staticmethod
    def _prepare(x: torch.Tensor, what: str) -> torch.Tensor:
        if not torch.is_tensor(x):
            raise TypeError(f"LPIPS {what}: expected a torch tensor, got {type(x).__name__}")
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS {what}: expected RGB (N, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
        x = x.float()
        lo, hi = float(x.min()), float(x.max())
        if lo < -0.5 or hi > 1.5:
            raise ValueError(f"LPIPS {what}: expected values in [0, 1], got [{lo:.3g}, {hi:.3g}] "
                             "(is it [0, 255] or [-1, 1] data?)")
        return x.clamp(0.0, 1.0)

    @torch.no_grad()
    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        sr, hr = self._prepare(sr, "sr"), self._prepare(hr, "hr")
        if sr.shape != hr.shape:
            raise ValueError(f"LPIPS: sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
        dev = next(self.model.parameters()).device
        d = self.model(sr.to(dev) * 2 - 1, hr.to(dev) * 2 - 1)
        return d.reshape(d.shape[0])


_CACHE: dict[tuple, LPIPSMetric] = {}


def cached_metric(net: str = "vgg", device: str | torch.device = "cpu") -> LPIPSMetric:
    """The :class:`LPIPSMetric` for ``net`` on ``device``, built once per process (rebuilt if the weight
    file changes). Raises :class:`WeightsUnavailable` when the verified weights are absent."""
    from ..weights import path as weights_path

    _check_net(net)
    p = weights_path(NETS[net])                          # raises WeightsUnavailable
    st = p.stat()
    key = (net, str(p), st.st_size, st.st_mtime_ns, str(torch.device(device)))
    metric = _CACHE.get(key)
    if metric is None:
        metric = LPIPSMetric(net, device=device)
        for k in [k for k in _CACHE if k[0] == net]:     # at most one network per variant in memory
            del _CACHE[k]
        _CACHE[key] = metric
    return metric


def lpips(sr: torch.Tensor, hr: torch.Tensor, net: str = "vgg") -> float:
    """Mean LPIPS-``net`` v0.1 over the batch, for RGB tensors in [0, 1] (whole image).

    Raises :class:`WeightsUnavailable` when the verified weights are absent; report the value as
    unavailable with ``err.reason`` then, never a number.
    """
    dev = sr.device if torch.is_tensor(sr) else torch.device("cpu")
    return float(cached_metric(net, dev)(sr, hr).mean())
