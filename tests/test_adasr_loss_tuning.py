"""AdaSR's Bayesian-tuned lambda (Sec. 3.2.4): EI on the 0.01 grid, stop after 20 trials without gain."""
from __future__ import annotations

import pytest
import torch

from srlib.adasr.loss_tuning import restoring, tune_lambda, tune_lambdas

OPT = 0.37


def score(lam: float) -> float:
    """A known 1-D objective (a PSNR-like bump) with its maximum at lambda = 0.37 on the grid."""
    return 30.0 - 20.0 * (lam - OPT) ** 2


def test_bo_finds_the_grid_optimum_within_its_stop_rule():
    calls = []
    res = tune_lambda(lambda lam: calls.append(lam) or score(lam), seed=0)
    assert res.best == pytest.approx(OPT) and res.best_score == pytest.approx(30.0)
    assert res.stopped == "patience"
    lams = [t[0] for t in res.trials]
    assert all(abs(l * 100 - round(l * 100)) < 1e-9 and 0 <= l <= 1 for l in lams)   # the 0.01 grid
    best_at = max(i for i, t in enumerate(res.trials) if t[1] == res.best_score and t[2])
    assert len(res.trials) - 1 - best_at == 20                       # exactly 20 trials without gain
    assert len(calls) == res.evaluations == len(set(calls)) < 101    # never re-evaluated, grid not exhausted

    # resumable: a replay with the measured scores asks the same questions and evaluates nothing new
    cache = {t[0]: t[1] for t in res.trials}
    again = tune_lambda(lambda lam: pytest.fail("re-evaluated"), seed=0, cache=cache)
    assert again.trials == res.trials and again.best == res.best


def test_per_anchor_tuning_and_bad_scores():
    made = []

    def make_trial(t, lambdas):
        made.append((t, lambdas))
        return lambda lam: score(lam) if t == 0 else 30.0 - (lam - 0.8) ** 2

    lambdas, found = tune_lambdas([0, 1], make_trial, [0.5, 0.5], patience=5, seed=1)
    assert made[1][1][0] == found[0].best and lambdas == [found[0].best, found[1].best]
    with pytest.raises(ValueError, match="finite"):
        tune_lambda(lambda lam: float("nan"))
    with pytest.raises(ValueError):
        tune_lambda(score, grid=0.03)


def test_restoring_puts_weights_and_optimizer_back():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    w0 = net.weight.detach().clone()
    with restoring(net, opt):
        net(torch.ones(1, 3)).sum().backward()
        opt.step()
        assert not torch.equal(net.weight, w0)
    assert torch.equal(net.weight, w0) and not opt.state_dict()["state"]
