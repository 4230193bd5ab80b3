"""Atomic writes leave nothing half-written; checkpoints load weights-only; RNG state round-trips."""
import argparse
import random

import numpy as np
import pytest
import torch

from srlib import io


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path):
    p = tmp_path / "a.txt"
    io.write_text(p, "old")
    with pytest.raises(RuntimeError):
        with io.atomic_write(p, "w") as f:
            f.write("new, half")
            raise RuntimeError("crash")
    assert p.read_text() == "old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]


def test_torch_load_is_weights_only_and_errors_name_file(tmp_path):
    p = io.torch_save({"w": torch.ones(2)}, tmp_path / "c.pt")
    assert torch.equal(io.torch_load(p)["w"], torch.ones(2))
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.pt: cannot be loaded as a weights-only checkpoint"):
        io.torch_load(tmp_path / "bad.pt")

    torch.save({"obj": argparse.Namespace(a=1)}, tmp_path / "evil.pt")  # an arbitrary pickled object
    with pytest.raises(ValueError, match="weights-only"):
        io.torch_load(tmp_path / "evil.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        io.torch_load(tmp_path / "missing.pt")


def test_rng_state_roundtrip_through_weights_only_checkpoint(tmp_path):
    io.seed_everything(5)
    state = io.rng_state()
    io.torch_save(state, tmp_path / "rng.pt")
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    io.set_rng_state(io.torch_load(tmp_path / "rng.pt"))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_json_roundtrip(tmp_path):
    io.write_json(tmp_path / "x.json", {"a": np.float32(1.5), "b": (1, 2)})
    assert io.read_json(tmp_path / "x.json") == {"a": 1.5, "b": [1, 2]}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        io.read_json(tmp_path / "bad.json")
