"""AdaSR's Algorithm 1 step: teacher frozen, every (D, W) accumulated, one update, max-norm after it."""
from __future__ import annotations

import pytest
import torch

from srlib.adasr import descriptions
from srlib.adasr.adaptable import Adaptable
from srlib.adasr.matching import MAX_NORM, MappingLayers, max_filter_norm
from srlib.adasr.progressive_kd import ProgressiveKDStep
from srlib.models import build

OPTIONS = [(1, 8), (2, 8), (3, 8), (1, 16), (3, 16)]


def _setup(mode: str = "progressive", max_norm: float | None = MAX_NORM, seed: int = 0):
    torch.manual_seed(seed)
    t_net = build("carn", num_feat=16, num_block=3, num_unit=1)
    s_net = build("carn", num_feat=16, num_block=3, num_unit=1)
    teacher, student = Adaptable(t_net, descriptions.carn(t_net)), Adaptable(s_net, descriptions.carn(s_net))
    for p in teacher.parameters():
        p.requires_grad_(False)
    maps = MappingLayers(OPTIONS, m_teacher=3, teacher_width=16, max_norm=max_norm)
    opt = torch.optim.Adam(list(student.parameters()) + list(maps.parameters()), lr=1e-3, betas=(0.9, 0.99))
    calls = {"n": 0}
    step = opt.step

    def counted(*a, **k):
        calls["n"] += 1
        return step(*a, **k)

    opt.step = counted
    fn = ProgressiveKDStep(OPTIONS, lambdas=[0.2, 0.5, 0.8], mode=mode, max_norm=max_norm)
    g = torch.Generator().manual_seed(3)
    batch = (torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 32, 32, generator=g))
    return fn, {"S": student, "T": teacher, "maps": maps}, {"S": opt}, calls, batch


def _snap(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_one_step_updates_the_shared_weights_once_and_leaves_the_teacher():
    fn, models, opts, calls, batch = _setup()
    t0, s0 = _snap(models["T"]), _snap(models["S"])
    out = fn(0, batch, models, opts)
    assert calls["n"] == 1
    assert all(torch.equal(v, models["T"].state_dict()[k]) for k, v in t0.items())
    s1 = models["S"].state_dict()
    changed = [k for k, v in s0.items() if not torch.equal(v, s1[k])]
    assert "model.entry.weight" in changed and "model.fuse.2.0.weight" in changed
    assert all("mean" in k for k in set(s0) - set(changed))           # only the frozen mean shifts stay
    assert max_filter_norm(models["maps"]) <= MAX_NORM * (1 + 1e-5)   # max-norm after the step
    assert set(out) >= {"loss", "loss_smallest", "loss_largest", "kd_anchor", "kd_output", "map_norm"}
    assert all(torch.isfinite(torch.as_tensor(v)) for v in out.values())


def test_gradients_equal_the_sum_over_separate_submodel_passes():
    fn, models, opts, _, batch = _setup()
    student, teacher, maps = models["S"], models["T"], models["maps"]
    lr, hr = batch
    with torch.no_grad():
        y_t, t_anchors = teacher(lr, anchors=True)
    student.zero_grad()
    for W in (8, 16):                                 # the step's path: one trunk per width
        depths = [d for d, w in OPTIONS if w == W]
        sum(r["loss"] for r in fn.losses(student, teacher, maps, lr, hr, W, depths, y_t, t_anchors).values()).backward()
    shared = {n: p.grad.clone() for n, p in student.named_parameters() if p.grad is not None}
    student.zero_grad()
    for D, W in OPTIONS:                              # Alg. 1 literally: one pass per (D, W)
        fn.losses(student, teacher, maps, lr, hr, W, [D], y_t, t_anchors)[D]["loss"].backward()
    for n, p in student.named_parameters():
        if n in shared:
            assert torch.allclose(p.grad, shared[n], atol=1e-6, rtol=1e-4), n


def test_ablations_run_without_anchors():
    for mode in ("output", "none"):
        fn, models, opts, calls, batch = _setup(mode)
        runs = {"n": 0}
        models["T"].register_forward_pre_hook(lambda *a: runs.__setitem__("n", runs["n"] + 1))
        out = fn(0, batch, models, opts)
        assert calls["n"] == 1 and float(out["kd_anchor"]) == 0.0
        assert runs["n"] == (0 if mode == "none" else 1)              # no KD: the teacher is never run
        assert all(p.grad is None for p in models["maps"].parameters())


def test_without_max_norm_the_mapping_layers_leave_the_ball():
    fn, models, opts, _, batch = _setup(max_norm=None)
    for s in range(2):
        out = fn(s, batch, models, opts)
    assert float(out["map_norm"]) > MAX_NORM


def test_progressive_mode_needs_mapping_layers():
    fn, models, opts, _, batch = _setup()
    del models["maps"]
    with pytest.raises(KeyError, match="mapping"):
        fn(0, batch, models, opts)


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as tdist

    tdist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        fn, models, opts, calls, _ = _setup()                         # same seed: same initial weights
        g = torch.Generator().manual_seed(10 + rank)                  # each rank its own shard
        batch = (torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 32, 32, generator=g))
        n, orig = {"c": 0}, tdist.all_reduce

        def counting(*a, **k):
            n["c"] += 1
            return orig(*a, **k)

        tdist.all_reduce = counting
        try:
            fn(0, batch, models, opts)
        finally:
            tdist.all_reduce = orig
        torch.save({"S": models["S"].state_dict(), "maps": models["maps"].state_dict(), "calls": n["c"],
                    "steps": calls["n"]}, f"{out_dir}/r{rank}.pt")
    finally:
        tdist.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="needs gloo")
def test_ddp_sums_all_combinations_then_one_allreduce(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"r{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["calls"] == r1["calls"] == 1 and r0["steps"] == r1["steps"] == 1
    for key in ("S", "maps"):                                          # replicas stay identical
        assert all(torch.equal(v, r1[key][k]) for k, v in r0[key].items())


def test_a_few_steps_reduce_the_distillation_loss():
    fn, models, opts, _, batch = _setup()
    losses = [float(fn(s, batch, models, opts)["loss"]) for s in range(15)]
    assert losses[-1] < 0.7 * losses[0]
