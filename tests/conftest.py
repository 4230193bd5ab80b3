"""Test-wide settings: results/data go to a temp folder, one thread, fixed seeds."""
import os

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path_factory, monkeypatch):
    """Every test writes results under its own temp folder, never the checkout's results/."""
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path_factory.mktemp("results")))
    monkeypatch.delenv("SRLIB_FORCE", raising=False)
    yield
