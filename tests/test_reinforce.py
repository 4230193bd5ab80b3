"""The shared REINFORCE controller (srlib/search/reinforce.py): determinism under a torch.Generator,
re-scoring of sampled actions, the EMA baseline arithmetic, learning a toy reward, state_dict round trip."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from srlib.search.reinforce import Controller, Reinforce

torch.set_num_threads(1)


def _samples(ctrl, seed, n):
    g = torch.Generator().manual_seed(seed)
    return [ctrl.sample(g) for _ in range(n)]


def test_sampling_is_deterministic_and_in_range():
    sizes = (16, 1, 16, 2, 16, 3)
    a, b = Controller(sizes, init_seed=3), Controller(sizes, init_seed=3)
    sa, sb = _samples(a, 7, 20), _samples(b, 7, 20)
    assert [s[0] for s in sa] == [s[0] for s in sb]
    assert [float(s[1]) for s in sa] == [float(s[1]) for s in sb]
    assert [s[0] for s in _samples(a, 8, 20)] != [s[0] for s in sa]
    for actions, lp, ent in sa:
        assert len(actions) == len(sizes) and all(0 <= x < n for x, n in zip(actions, sizes))
        assert actions[1] == 0                      # a 1-option decision has one choice
        assert lp.item() < 0 and ent.item() > 0
        lp2, ent2 = a.log_prob(actions)             # teacher-forced re-scoring gives the same numbers
        assert lp2.item() == pytest.approx(lp.item(), abs=1e-6)
        assert ent2.item() == pytest.approx(ent.item(), abs=1e-6)


def test_fresh_controller_is_near_uniform_and_temperature_is_per_decision():
    ctrl = Controller((4, 3), init_seed=0, temperature=(2.5, 1.0), tanh_constant=1.1)
    probs = ctrl.probabilities((0, 0))
    assert [len(p) for p in probs] == [4, 3]
    for p in probs:  # U(-0.1, 0.1) init and a tanh cap of 1.1: close to uniform
        assert float(p.sum()) == pytest.approx(1.0)
        assert float(p.max() / p.min()) < 1.5
    with pytest.raises(ValueError, match="temperature"):
        Controller((4, 3), temperature=(1.0,))
    with pytest.raises(ValueError, match="action"):
        ctrl.log_prob((4, 0))


def test_baseline_is_an_ema_started_at_the_first_reward():
    ctrl = Controller((3, 3), init_seed=0)
    rl = Reinforce(ctrl, lr=1e-3, baseline_decay=0.9, entropy_weight=0.0)
    info = rl.update([((0, 1), 2.0)])
    assert rl.baseline == 2.0 and info["advantage"] == 0.0
    rl.update([((1, 1), 1.0), ((2, 0), 4.0)])
    b1 = 2.0 - 0.1 * (2.0 - 1.0)
    assert rl.baseline == pytest.approx(b1 - 0.1 * (b1 - 4.0))
    # the entropy bonus enters the reward: w * H(sample) shifts the baseline
    ctrl2 = Controller((3, 3), init_seed=0)
    rl2 = Reinforce(ctrl2, entropy_weight=0.5, baseline_decay=0.9)
    _, ent = ctrl2.log_prob((0, 1))
    rl2.update([((0, 1), 2.0)])
    assert rl2.baseline == pytest.approx(2.0 + 0.5 * ent.item(), abs=1e-6)


def test_reinforce_learns_the_best_option_of_a_toy_reward():
    sizes, best = (4, 3, 5), (2, 0, 3)
    ctrl = Controller(sizes, hidden=16, init_seed=1, tanh_constant=None)
    rl = Reinforce(ctrl, lr=0.05, baseline_decay=0.9, entropy_weight=0.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        batch = []
        for _ in range(5):
            actions, _, _ = ctrl.sample(g)
            batch.append((actions, float(sum(a == b for a, b in zip(actions, best)))))  # 0..3 matches
        rl.update(batch)
    probs = ctrl.probabilities(best)
    assert [int(p.argmax()) for p in probs] == list(best)
    assert min(float(p[b]) for p, b in zip(probs, best)) > 0.9
    assert math.exp(ctrl.log_prob(best)[0].item()) > 0.8


def test_state_dict_round_trip_continues_identically():
    def run(rl, ctrl, g, n):
        for _ in range(n):
            rl.update([(ctrl.sample(g)[0], float(i)) for i in range(3)])

    ctrl = Controller((5, 2, 5), init_seed=0)
    rl = Reinforce(ctrl, lr=0.01)
    g = torch.Generator().manual_seed(4)
    run(rl, ctrl, g, 3)
    saved, gstate = rl.state_dict(), g.get_state()
    saved = copy.deepcopy(saved)
    run(rl, ctrl, g, 3)

    ctrl2 = Controller((5, 2, 5), init_seed=99)
    rl2 = Reinforce(ctrl2, lr=0.01)
    rl2.load_state_dict(saved)
    g2 = torch.Generator()
    g2.set_state(gstate)
    run(rl2, ctrl2, g2, 3)
    assert rl2.baseline == rl.baseline and rl2.updates == rl.updates == 6
    for (k, a), (_, b) in zip(ctrl.state_dict().items(), ctrl2.state_dict().items()):
        assert torch.equal(a, b), k
