"""AdaSR's profile section: paper defaults and early, named errors."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from srlib.adasr.config import AdaSRConfig, LambdaBOConfig
from srlib.config import ConfigError

PROFILE = SimpleNamespace(train=SimpleNamespace(log_every=10))


def test_paper_defaults_validate():
    c = AdaSRConfig()
    c.validate("adasr", PROFILE)
    assert c.max_norm == 2e-4 and c.betas == (0.9, 0.99) and c.batch == 16
    assert (c.bo.grid, c.bo.patience, c.bo.xi) == (0.01, 20, 0.0)
    assert c.grid_for("carn") == (None, None)


def test_grid_and_bad_values_fail_naming_the_key():
    c = AdaSRConfig(grid={"carn": {"depths": [1, 3], "widths": [16, 32]}})
    c.validate("adasr", PROFILE)
    assert c.grid_for("carn") == ((1, 3), (16, 32))
    for bad, key in [({"teachers": ("carn", "carn_m")}, "adasr.teachers"),
                     ({"grid": {"carn": {"depth": [1]}}}, "adasr.grid.carn"),
                     ({"init": "random"}, "adasr.init"),
                     ({"ablations": ("nokd",)}, "adasr.ablations"),
                     ({"bo": LambdaBOConfig(grid=0.03)}, "adasr.bo.grid"),
                     ({"val_every": 15}, "adasr.val_every")]:
        with pytest.raises(ConfigError, match=key):
            replace(c, **bad).validate("adasr", PROFILE)
