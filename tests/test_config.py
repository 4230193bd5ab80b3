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
    assert (m.esrgan_feat, m.esrgan_blocks) == (64, 23)


def test_mfagan_width_choices_must_fit_the_supergenerator(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "PROFILES_DIR", tmp_path)
    (tmp_path / "w.yaml").write_text("mfagan:\n  student_g: 16\n  width_choices: [24, 16]\n")
    with pytest.raises(ConfigError, match="width_choices"):
        config.load("w")
