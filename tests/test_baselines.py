"""Reference baselines: recipes as cached stages trained once per profile and seed, their losses."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib import baselines, config
from srlib.training import gan, losses


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no VGG19 weights anywhere


def test_gram_patches_by_hand():
    f = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    g = losses.gram_patches(f, 2)
    assert g.shape == (4, 2, 2)  # four 2x2 windows, one 2x2 Gram each
    win = f[0, :, :2, 2:].reshape(2, 4)  # the top-right window (row-major window order)
    assert torch.allclose(g[1], win @ win.T / 4)
    with pytest.raises(ValueError, match="multiple of the texture patch"):
        losses.gram_patches(torch.zeros(1, 2, 5, 4), 2)


class _FakeVGG(nn.Module):
    """Stands in for srlib.training.vgg.VGGFeatures in tests: a fixed conv per layer name."""
    made = []

    def __init__(self, layer, before_activation=True, *, weights="vgg19"):
        super().__init__()
        torch.manual_seed(len(layer))
        self.layer, self.before_activation = layer, before_activation
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        _FakeVGG.made.append((layer, before_activation))

    def forward(self, x):
        y = self.conv(x)
        return y if self.before_activation else torch.relu(y)


def test_multi_layer_perceptual_weights_scale_and_activation(monkeypatch):
    from srlib.training import vgg

    monkeypatch.setattr(vgg, "VGGFeatures", _FakeVGG)
    _FakeVGG.made.clear()
    loss = losses.PerceptualLoss("mse", ("pool2", "relu5_4"), layer_weights=(0.2, 0.02), feature_scale=0.5)
    assert _FakeVGG.made == [("pool2", True), ("relu5_4", False)]
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    want = sum(w * F.mse_loss(0.5 * v(a), 0.5 * v(b)) for w, v in zip((0.2, 0.02), loss.vggs))
    assert loss(a, b).item() == pytest.approx(want.item(), rel=1e-6)


def test_offline_stand_ins_carry_the_terms_weights_and_say_so(offline):
    p, desc = losses.perceptual_or_stand_in("mse", ("pool2", "pool5"), (0.2, 0.02))
    a, b = torch.zeros(1, 3, 16, 16), torch.full((1, 3, 16, 16), 0.5)
    assert isinstance(p, losses.PixelStandIn) and p(a, b).item() == pytest.approx(0.22 * 0.25)
    assert desc.startswith("stand-in: identity features (pixel-space MSE x 0.22)")
    t, tdesc = losses.texture_or_stand_in(("conv1_1", "conv2_1"), (1.0, 2.0), 8)
    assert isinstance(t, losses.PixelTextureStandIn) and tdesc.startswith("stand-in: Gram matrices of RGB 8x8")
    x = torch.rand(1, 3, 16, 16)
    assert t(x, x).item() == 0 and t(x, x.flip(-1)).item() > 0


def test_gan_step_texture_term_is_logged_and_required():
    g, d = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 1, 3, padding=1)
    step = gan.GANStep(gan.GANWeights(recon=0.0, percep=0.0, adv=1.0, texture=2.0), losses.GANLoss("vanilla"),
                       texture=losses.PixelTextureStandIn(4))
    opts = {k: torch.optim.Adam(m.parameters(), 1e-3) for k, m in (("G", g), ("D", d))}
    logs = step(0, (torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)), {"G": g, "D": d}, opts)
    assert {"l_texture", "l_adv_g", "l_adv_d"} <= set(logs) and logs["l_texture"] > 0
    with pytest.raises(ValueError, match="texture"):
        gan.GANStep(gan.GANWeights(texture=1.0), losses.GANLoss("vanilla"))


def test_reference_models_are_trained_once_per_profile_and_seed(offline, capsys):
    prof = config.load("smoke", {"train.progress": False})
    first = baselines.reference(prof, "esrgan", 0)
    assert first.name == "baseline_esrgan_s0" and not first.skipped
    p = first.manifest["params"]
    assert p["recipe"] == "esrgan" and p["gan"] == "ragan" and p["weights"]["adv"] == 5e-3
    assert p["models"]["G"] == {"name": "esrgan", "kw": {"num_feat": 8, "num_block": 1}}
    assert p["models"]["D"]["kw"] == {"num_feat": 8, "input_size": 64}
    assert p["perceptual"].startswith("stand-in: identity features (pixel-space L1)")
    assert p["init"]["G"][0] == "baseline_esrgan_pixel_s0"
    pre = baselines.pretrained(prof, "esrgan", 0)
    assert pre.skipped and pre.manifest["params"]["betas"] == [0.9, 0.999]
    again = baselines.reference(prof, "esrgan", 0)  # a second notebook asking for it
    assert again.skipped and again.key == first.key
    assert "[stage] baseline_esrgan_s0: skipped, complete" in capsys.readouterr().out
    other = baselines.reference(prof, "esrgan", 1)
    assert other.name == "baseline_esrgan_s1" and not other.skipped


def test_psnr_recipe_uses_its_own_loss_batch_and_patch(offline):
    prof = config.load("smoke", {"train.progress": False, "baselines.feqe.batch_size": 3,
                                 "baselines.feqe.lr_patch": 8})
    res = baselines.reference(prof, "feqe", 0)
    p = res.manifest["params"]
    assert res.name == "baseline_feqe_s0" and p["recon"] == "mse"  # FEQE trains with MSE
    assert (p["batch_size"], p["lr_patch"]) == (3, 8)
    with pytest.raises(KeyError, match="no reference model 'edsr'"):
        baselines.reference(prof, "edsr", 0)


def test_gan_recipe_pixel_stage_can_take_its_own_batch_and_patch(offline):
    prof = config.load("smoke", {"train.progress": False, "baselines.srgan.batch_size": 2,
                                 "baselines.srgan.lr_patch": 16, "baselines.srgan.pixel_batch_size": 3,
                                 "baselines.srgan.pixel_lr_patch": 8})
    res = baselines.reference(prof, "srgan", 0)
    pre = baselines.pretrained(prof, "srgan", 0)
    assert (pre.manifest["params"]["batch_size"], pre.manifest["params"]["lr_patch"]) == (3, 8)
    assert (res.manifest["params"]["batch_size"], res.manifest["params"]["lr_patch"]) == (2, 16)
    with pytest.raises(config.ConfigError, match="pixel_batch_size"):
        config.load("smoke", {"baselines.srgan.pixel_batch_size": 0})


def test_enhancenet_recipe_has_its_texture_term(offline):
    prof = config.load("smoke", {"train.progress": False})
    res = baselines.reference(prof, "enhancenet", 0)
    p = res.manifest["params"]
    assert p["texture"].startswith("stand-in: Gram matrices") and p["weights"]["adv"] == 2.0
    assert p["perceptual"].startswith("stand-in: identity features (pixel-space MSE x 0.22)")


def test_released_source_loads_the_authors_checkpoint_into_a_stage(offline, tmp_path, monkeypatch):
    import dataclasses

    from test_weights_released import carn_m_file  # a state dict in the authors' CARN-M format

    from srlib.training.runs import load_model
    from srlib.weights import WeightsUnavailable, released

    prof = config.load("smoke", {"baselines.carn_m.source": "released", "baselines.carn_m.released": "carn_m"})
    with pytest.raises(WeightsUnavailable, match="fetch carn_m"):
        baselines.reference(prof, "carn_m", 0)
    s = released.spec("carn_m")
    f = tmp_path / "rel" / s.filename
    f.parent.mkdir()
    sd = carn_m_file()
    torch.save(sd, f)
    monkeypatch.setenv("SRLIB_RELEASED_DIR", str(f.parent))
    monkeypatch.setitem(released.RELEASED, "carn_m", dataclasses.replace(
        s, sha256=released.file_sha256(f), size=f.stat().st_size))
    res = baselines.reference(prof, "carn_m", 0)
    assert res.name == "baseline_carn_m_released_carn_m" and res.manifest["params"]["checkpoint"] == "carn_m"
    g, want = load_model(res, "G"), released.from_state_dict("carn_m", sd)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(g(x), want(x))
    assert baselines.reference(prof, "carn_m", 0).skipped
    with pytest.raises(ValueError, match="is a 'carn_m' checkpoint, not a 'tpsr'"):
        baselines.reference(config.load("smoke", {"baselines.tpsr.source": "released",
                                                  "baselines.tpsr.released": "carn_m"}), "tpsr", 0)


def test_training_summary_rows_set_each_stage_beside_bicubic(offline):
    from srlib.training import summary

    prof = config.load("smoke", {"train.progress": False})
    res = baselines.reference(prof, "tpsr", 0)
    rows = summary.stage_rows(prof, "tpsr", res, what="pixel recipe", table="t", seed=0)
    by = {(r["metric"], r["dataset"]): r for r in rows}
    assert {ds for m, ds in by if m == "psnr"} == {"skimage_val (val)", "skimage_test"}
    assert by[("iterations", "")]["value"] == prof.baselines.tpsr.pixel_iters
    assert by[("train_seconds", "")]["value"] == res.manifest["wall_s"]
    assert "batch 2 x LR 16px" in by[("psnr", "skimage_test")]["note"]
    bic = {r["dataset"]: r["value"] for r in summary.bicubic_rows(prof, "t")}
    assert set(bic) == {"skimage_val (val)", "skimage_test"} and all(20 < v < 40 for v in bic.values())
