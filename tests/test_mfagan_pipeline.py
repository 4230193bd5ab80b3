"""MFAGAN pipeline pieces: the GAN step (Eq. 1), the LUT covering configurations, paper-architecture mapping."""
import itertools

import pytest
import torch

from srlib import config
from srlib.mfagan import distillation, nas, supernet
from srlib.mfagan.mfanet import MFANet
from srlib.models import build
from srlib.training import distill, gan, losses


def test_covering_configs_cover_every_pair_of_width_entries():
    space = supernet.width_space(MFANet(widths=[24] * 8), (24, 16, 12))
    configs = nas.covering_configs(space, seed=0)
    assert configs == nas.covering_configs(space, seed=0)  # deterministic
    assert len(configs) < 30  # far fewer than the 3^8 = 6561 SubGenerators
    for i, j in itertools.combinations(range(8), 2):
        seen = {(c[i], c[j]) for c in configs}
        assert seen == set(itertools.product(space[i], space[j])), (i, j)


def _tiny():
    torch.manual_seed(0)
    g, d = MFANet(num_feat=8), build("patchgan_mfagan", num_feat=4)
    tg, td = MFANet(num_feat=12), build("patchgan_mfagan", num_feat=8)
    return g, d, tg, td


def test_gan_step_updates_g_and_d_and_logs_every_term():
    g, d, tg, td = _tiny()
    dg = distill.FeatureDistiller([8] * 3, [12] * 3)
    dd = distill.FeatureDistiller([4, 8, 16], [8, 16, 32])
    step = distillation.DistillationStep(gan.GANWeights(recon=1, percep=0, adv=10), losses.GANLoss("vanilla"),
                                         None, lambda_g=0.05, lambda_d=0.05, teacher_g=tg, teacher_d=td,
                                         distill_g=dg, distill_d=dd)
    opts = {"G": torch.optim.Adam(list(g.parameters()) + list(dg.parameters()), 1e-3),
            "D": torch.optim.Adam(list(d.parameters()) + list(dd.parameters()), 1e-3)}
    g0 = [p.clone() for p in g.parameters()]
    d0 = [p.clone() for p in d.parameters()]
    t0 = [p.clone() for p in tg.parameters()]
    batch = (torch.rand(2, 3, 16, 16), torch.rand(2, 3, 64, 64))
    logs = step(0, batch, {"G": g, "D": d}, opts)
    assert set(logs) >= {"l_recon", "l_distill_g", "l_adv_g", "loss_g", "l_adv_d", "l_distill_d", "d_real", "d_fake"}
    assert logs["l_distill_g"] > 0 and logs["l_distill_d"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(g0, g.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, d.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(t0, tg.parameters()))  # the teacher never moves
    assert all(p.requires_grad for p in d.parameters())  # D re-enabled after the G update


def test_gan_step_needs_teachers_for_distillation():
    with pytest.raises(ValueError, match="teacher_g"):
        distillation.DistillationStep(gan.GANWeights(), losses.GANLoss("vanilla"), lambda_g=0.05)
    with pytest.raises(ValueError, match="teacher_d"):
        distillation.DistillationStep(gan.GANWeights(), losses.GANLoss("vanilla"), lambda_d=0.05)


def test_paper_arch_maps_mini_widths_to_the_papers():
    from srlib.mfagan.experiments import paper_arch

    class Res:  # a finished stage's handle, as far as paper_arch reads it
        manifest = {"params": {"models": {"G": {"name": "mfanet", "kw": {"widths": [24, 16, 12, 24, 16, 12, 24, 16]}}}}}

    mini = config.load("mini")
    name, kw, how = paper_arch(mini, Res)
    assert name == "mfanet" and kw == {"widths": [48, 32, 24, 48, 32, 24, 48, 32]} and "x2" in how
    Res.manifest = {"params": {"models": {"G": {"name": "mfanet", "kw": {"num_feat": 32}}}}}
    assert paper_arch(mini, Res)[1] == {"num_feat": 64}
    Res.manifest = {"params": {"models": {"G": {"name": "esrgan", "kw": {"num_feat": 24, "num_block": 2}}}}}
    assert paper_arch(mini, Res)[:2] == ("esrgan", {})


def test_offline_gan_stage_records_the_stand_in_and_rows_say_what_was_trained(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no VGG19 weights
    from srlib import config
    from srlib.mfagan import experiments, stages

    prof = config.load("smoke", {"train.progress": False})
    res = stages.mfagan_l(prof, 0)
    desc = res.manifest["params"]["perceptual"]
    assert desc.startswith("stand-in: identity features (pixel-space MSE)") and "vgg19" in desc
    note = experiments.trained_as(prof, res)
    assert note.startswith("trained at smoke: G=mfanet(num_feat=16), D=patchgan_mfagan(num_feat=8)")
    assert f"{prof.mfagan.gan_iters} iterations in this stage (mfagan_l_s0)" in note
    assert "pixel-space stand-in (VGG19 ImageNet weights unavailable)" in note


def test_fig6_runs_start_from_the_first_seeds_pretraining_under_their_own_names(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from srlib import config
    from srlib.mfagan import experiments, stages

    prof = config.load("smoke", {"train.progress": False, "mfagan.fig6_seeds": [0, 1],
                                 "mfagan.fig6_iters": 3, "mfagan.gan_iters": 2, "mfagan.gan_milestones": []})
    runs = experiments.fig6(prof)
    names = {k: r.name for k, r in runs.items()}
    assert names == {("patchgan", 0): "mfagan_l_it3_s0", ("patchgan", 1): "mfagan_l_it3_pre0_s1",
                     ("esrgan", 0): "mfagan_l_esrgand_it3_s0", ("esrgan", 1): "mfagan_l_esrgand_it3_pre0_s1"}
    pre0 = stages.pretrain(prof, prof.mfagan.teacher_g, 0)
    assert all(r.manifest["params"]["init"]["G"][:2] == [pre0.name, pre0.key] for r in runs.values())
    assert stages.mfagan_l(prof, 0).name == "mfagan_l_s0"   # Table 1's stage keeps its name
