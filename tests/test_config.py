"""Profiles: valid ones load frozen; bad names, keys and values fail naming the key and the choices."""
import dataclasses

import pytest

from srlib import config
from srlib.config import ConfigError


@pytest.mark.parametrize("name", ["smoke", "mini", "paper"])
def test_profiles_load_and_are_frozen(name):
    p = config.load(name)
    assert p.name == name and p.data.scale == 4 and p.crop_border == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 3


def test_paper_profile_has_the_papers_settings():
    p = config.load("paper")
    assert p.data.test_sets == ("Set5", "Set14", "B100", "Urban100")
    assert p.data.train_sets == ("DIV2K_train",)
    assert p.data.batch_size == 16 and p.data.lr_patch * p.data.scale == 128  # MFAGAN Sec. 4.1
    assert p.data.max_eval_hr is None


def test_env_var_selects_profile(monkeypatch):
    monkeypatch.setenv("SRLIB_PROFILE", "smoke")
    assert config.load().name == "smoke"
    monkeypatch.delenv("SRLIB_PROFILE")
    assert config.load().name == "mini"


def test_unknown_profile_lists_valid_ones(monkeypatch):
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'; valid profiles: mini, paper, smoke"):
        config.load("nope")
    monkeypatch.setenv("SRLIB_PROFILE", "nope")
    assert config.main(["check"]) == 2


def test_unknown_key_in_yaml_names_key_and_valid_keys(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text("data:\n  batch_sise: 4\n")
    monkeypatch.setattr(config, "PROFILES_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'data.batch_sise'; valid keys in data: .*batch_size"):
        config.load("bad")
    (tmp_path / "bad2.yaml").write_text("seeed: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'seeed'; valid keys: name, description, seed"):
        config.load("bad2")


def test_wrong_type_and_choice(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "PROFILES_DIR", tmp_path)
    (tmp_path / "t.yaml").write_text("data:\n  batch_size: four\n")
    with pytest.raises(ConfigError, match=r"data.batch_size must be int"):
        config.load("t")
    (tmp_path / "c.yaml").write_text("data:\n  source: imagenet\n")
    with pytest.raises(ConfigError, match=r"data.source='imagenet' is not valid; choose one of: synthetic, skimage, paper"):
        config.load("c")
    (tmp_path / "y.yaml").write_text("data: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load("y")


def test_overrides_are_validated():
    p = config.load("smoke", overrides={"data.batch_size": 3})
    assert p.data.batch_size == 3
    assert p.replace({"seed": 7}).seed == 7
    with pytest.raises(ConfigError, match="unknown key 'data.nope'"):
        config.load("smoke", overrides={"data.nope": 1})


def test_results_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    assert config.load("smoke").results_dir == tmp_path / "smoke"


def test_paper_profile_mfagan_is_the_papers():
    m = config.load("paper").mfagan
    # MFAGAN Sec. 4.1 and Table 1
    assert (m.teacher_g, m.student_g, m.teacher_d, m.student_d) == (64, 48, 48, 32)
    assert m.width_choices == (48, 32, 24)
    assert (m.lambda_recon, m.lambda_distill_g, m.lambda_distill_d, m.lambda_percep, m.lambda_adv) == (1, 0.05, 0.05, 1, 10)
    assert (m.lr_pretrain, m.lr_gan, m.pretrain_iters, m.finetune_iters) == (2e-4, 1e-4, 500_000, 10_000)
    assert m.gan_milestones == (5_000, 10_000) and m.supernet_milestones == (200_000, 400_000, 600_000)
    assert m.esrgan_d_feat == 64


def test_mfagan_width_choices_must_fit_the_supergenerator(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "PROFILES_DIR", tmp_path)
    (tmp_path / "w.yaml").write_text("mfagan:\n  student_g: 16\n  width_choices: [24, 16]\n")
    with pytest.raises(ConfigError, match="width_choices"):
        config.load("w")


def test_sections_are_declared_by_their_packages():
    from srlib.baselines.config import BaselinesConfig
    from srlib.mfagan.config import MFAGANConfig

    p = config.load("mini")
    assert isinstance(p.mfagan, MFAGANConfig) and isinstance(p.baselines, BaselinesConfig)
    assert set(config.sections()) >= {"mfagan", "baselines"}
    assert p.to_dict()["mfagan"]["teacher_g"] == 32 and "sections" not in p.to_dict()
    with pytest.raises(AttributeError, match="no section or key 'nope'"):
        p.nope


def test_paper_yaml_lists_the_published_recipes_the_code_declares():
    from srlib.baselines.config import BaselinesConfig

    b = config.load("paper").baselines
    assert b == BaselinesConfig()  # paper.yaml and the documented defaults never drift apart
    esr = b.esrgan  # ESRGAN Sec. 4.1
    assert (esr.w_recon, esr.w_adv, esr.w_percep, esr.gan, esr.percep_criterion) == (1e-2, 5e-3, 1.0, "ragan", "l1")
    assert esr.gan_milestones == (50_000, 100_000, 200_000, 300_000) and esr.lr_patch * 4 == 128
    assert (b.srgan.w_adv, b.srgan.percep_layers, round(1 / b.srgan.percep_feature_scale, 2)) == (1e-3, ("relu5_4",), 12.75)
    assert b.srgan.gan_gamma == 0.1 and b.srgan.gan_milestones == (100_000,)
    assert b.carn.pixel_milestones == (400_000,) and b.carn.pixel_iters == 600_000  # CARN-pytorch README
    assert all(b.recipe(n).ref for n in b.names())


def test_a_section_merges_over_its_defaults_and_rejects_nonsense(tmp_path, monkeypatch):
    p = config.load("mini")
    assert p.baselines.esrgan.kw == {"num_feat": 24, "num_block": 2, "num_grow_ch": 16}
    assert p.baselines.esrgan.w_adv == 5e-3  # not shrunk: the published weight
    q = config.load("mini", overrides={"baselines.esrgan.pixel_iters": 470})
    assert q.baselines.esrgan.pixel_iters == 470 and q.baselines.esrgan.kw == p.baselines.esrgan.kw
    monkeypatch.setattr(config, "PROFILES_DIR", tmp_path)
    bad = {
        "b1.yaml": ("baselines:\n  esrgan:\n    pixel_iter: 3\n", r"unknown key 'baselines.esrgan.pixel_iter'"),
        "b2.yaml": ("baselines:\n  carn:\n    pixel_iters: 10\n    pixel_milestones: [20]\n",
                    r"baselines.carn.pixel_milestones \[20\] must increase strictly and lie inside"),
        "b3.yaml": ("baselines:\n  tpsr:\n    source: released\n", r"baselines.tpsr.source is 'released' but"),
        "b4.yaml": ("baselines:\n  srgan:\n    source: downloaded\n", r"baselines.srgan.source='downloaded' is not valid"),
        "b5.yaml": ("baselines:\n  esrgan:\n    w_adv: -1.0\n", r"baselines.esrgan.w_adv must be >= 0"),
    }
    for name, (text, msg) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError, match=msg):
            config.load(name[:-5])


@pytest.mark.parametrize("override, msg", [
    ({"mfagan.search_parent_ratio": 1.5}, r"mfagan.search_parent_ratio must be in \(0, 1\]"),
    ({"mfagan.search_mutate_prob": 2.0}, r"mfagan.search_mutate_prob must be in \[0, 1\]"),
    ({"mfagan.supernet_random_samples": -1}, r"mfagan.supernet_random_samples must be >= 0"),
    ({"mfagan.lambda_adv": -10.0}, r"mfagan.lambda_adv must be >= 0"),
    ({"mfagan.gan_milestones": [50, 500]}, r"mfagan.gan_milestones \[50, 500\] must increase strictly"),
    ({"mfagan.student_g": 40}, r"must not be wider than the teacher"),
    ({"mfagan.seeds": [0, 0]}, r"mfagan.seeds \[0, 0\] lists a seed twice"),
    ({"data.lr_patch": 12}, r"data.lr_patch=12: the HR patch \(48\) must be a multiple of 32"),
    ({"baselines.esrgan.lr_patch": 12}, r"baselines.esrgan.lr_patch: the HR patch \(48\)"),
    ({"mfagan.pretrain_milestones": [250, 600]}, r"mfagan.pretrain_milestones \[250, 600\] must increase strictly"),
    ({"mfagan.pretrain_batch_size": 0}, r"mfagan.pretrain_batch_size"),
    ({"latency.max_secs": 0}, r"latency.max_secs must be > 0 seconds, got 0"),
])
def test_nonsense_profile_values_are_refused_naming_the_key(override, msg):
    with pytest.raises(ConfigError, match=msg):
        config.load("mini", overrides=override)


def test_config_check_as_a_module_sees_the_registered_sections():
    """`python -m srlib.config check` (the Makefile's first step) runs the module as __main__."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "srlib.config", "check", "mini"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "profile 'mini' OK" in out.stdout
