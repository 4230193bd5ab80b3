"""A REINFORCE policy over a sequence of categorical decisions (ENAS-style LSTM controller).

Generic search machinery (shared/design.md, ``srlib/search``): it sees only a list of decision sizes and
scalar rewards -- no operation names, costs, metrics or caches. TPSR (Lee et al., ECCV 2020) uses it as
pi_theta of Algorithm 1 (line 5 ``s_t ~ pi_theta``, line 11 the update); Eq. 3 is the update rule:

    J(theta) = E_{s ~ pi_theta} R(E(s)),   grad J ~ grad log pi_theta(s_t) R(E(s_t)),   theta += beta grad J

Symbols -> names: pi_theta = :class:`Controller` (theta = its parameters); s_t = ``actions`` (one index
per decision); log pi_theta(s_t) = ``log_prob``; R(E(s_t)) = the ``reward`` handed to
:meth:`Reinforce.update`; beta = ``lr``.

What we build (the paper defers the controller to its unavailable supplementary material, so every knob
below is an assumption; sources are the ENAS defaults in shared/notes/tpsr.md):

* :class:`Controller`: one LSTM cell (``hidden`` units; ENAS official: 64). Step i feeds the embedding of
  decision i-1's sampled option (a learned start vector at step 0), and a per-decision linear head gives
  the logits of decision i, which has its own number of options. Logits are divided by ``temperature``
  (one value, or one per decision) and squashed as ``tanh_constant * tanh(logits)`` when
  ``tanh_constant`` is set (ENAS official: c = 1.10, and op logits divided by 2.5 first, i.e. a
  per-decision temperature of 2.5 on op decisions and 1 on input decisions). Parameters start
  U(-0.1, 0.1) (ENAS).
  ENAS picks a node's inputs by attention over previous nodes' LSTM states; we use a plain per-decision
  softmax for every decision (inputs too), so the controller stays generic over decision sizes.
* :class:`Reinforce`: Eq. 3 with ENAS's variance reduction: the entropy of the sample times
  ``entropy_weight`` is added to the reward (ENAS: 1e-4), an exponential-moving-average baseline
  ``b <- b - (1 - baseline_decay)(b - R)`` (ENAS official 0.99; started at the first reward as in the
  PyTorch port), loss ``-log pi(s) (R - b)`` averaged over the ``k`` samples of one update (ENAS aggregates
  10), Adam (ENAS official lr 0.0035; betas are PyTorch's defaults: assumption).

Determinism: sampling draws only from the ``torch.Generator`` passed in; :meth:`Controller.log_prob`
re-scores given actions (teacher forcing), so an update needs no graph kept from sampling time and a
resumed search recomputes exactly what an uninterrupted one would.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

__all__ = ["Controller", "Reinforce"]


class Controller(nn.Module):
    """LSTM policy pi_theta over ``decision_sizes`` (decision i has ``decision_sizes[i]`` options).

    Args:
        decision_sizes: number of options of each decision, in sampling order.
        hidden: LSTM width (assumption: 64, ENAS official micro controller).
        temperature: logits are divided by it; one value or one per decision (None = 1).
        tanh_constant: logits -> c * tanh(logits) (assumption: 1.10, ENAS official; None = off).
        init_range: parameters drawn U(-r, r) (ENAS: 0.1), from ``torch.Generator`` ``init_seed``.
    """

    def __init__(self, decision_sizes: Sequence[int], *, hidden: int = 64,
                 temperature: float | Sequence[float] | None = None, tanh_constant: float | None = 1.10,
                 init_range: float = 0.1, init_seed: int = 0):
        super().__init__()
        sizes = tuple(int(s) for s in decision_sizes)
        if not sizes or min(sizes) < 1:
            raise ValueError(f"decision_sizes must be a non-empty list of positive sizes, got {list(decision_sizes)}")
        if temperature is None or isinstance(temperature, (int, float)):
            temps = [1.0 if temperature is None else float(temperature)] * len(sizes)
        else:
            temps = [float(t) for t in temperature]
        if len(temps) != len(sizes) or min(temps) <= 0:
            raise ValueError(f"temperature must be > 0, one value or one per decision ({len(sizes)}), "
                             f"got {temperature}")
        self.decision_sizes = sizes
        self.hidden, self.temperatures, self.tanh_constant = hidden, tuple(temps), tanh_constant
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, s) for s in sizes)
        self.embeddings = nn.ModuleList(nn.Embedding(s, hidden) for s in sizes)
        g = torch.Generator().manual_seed(init_seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.rand(p.shape, generator=g) * 2 * init_range - init_range)

    def _logits(self, i: int, h: torch.Tensor) -> torch.Tensor:
        logits = self.heads[i](h) / self.temperatures[i]
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _run(self, actions: Sequence[int] | None, generator: torch.Generator | None):
        x = self.start
        state = None
        chosen, log_p, entropy = [], torch.zeros(()), torch.zeros(())
        for i, n in enumerate(self.decision_sizes):
            state = self.lstm(x, state)
            logp = torch.log_softmax(self._logits(i, state[0]), dim=-1)[0]
            if actions is None:
                a = int(torch.multinomial(logp.detach().exp(), 1, generator=generator))
            else:
                a = int(actions[i])
                if not 0 <= a < n:
                    raise ValueError(f"decision {i}: action {a} not in 0..{n - 1}")
            chosen.append(a)
            log_p = log_p + logp[a]
            entropy = entropy - (logp.exp() * logp).sum()
            x = self.embeddings[i](torch.tensor([a]))
        return tuple(chosen), log_p, entropy

    def sample(self, generator: torch.Generator) -> tuple[tuple[int, ...], torch.Tensor, torch.Tensor]:
        """Draw s ~ pi_theta: ``(actions, log_prob, entropy)``, log-probability and entropy summed over
        decisions (no gradient is kept; :meth:`log_prob` re-scores for an update)."""
        with torch.no_grad():
            return self._run(None, generator)

    def log_prob(self, actions: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log pi_theta(actions), entropy)`` with gradients (teacher-forced over ``actions``)."""
        if len(actions) != len(self.decision_sizes):
            raise ValueError(f"expected {len(self.decision_sizes)} actions, got {len(actions)}")
        _, lp, ent = self._run(actions, None)
        return lp, ent

    @torch.no_grad()
    def probabilities(self, actions: Sequence[int]) -> list[torch.Tensor]:
        """The softmax of every decision along the path ``actions`` (for inspection and plots)."""
        x, state, out = self.start, None, []
        for i, a in enumerate(actions):
            state = self.lstm(x, state)
            out.append(torch.softmax(self._logits(i, state[0]), dim=-1)[0])
            x = self.embeddings[i](torch.tensor([int(a)]))
        return out


class Reinforce:
    """Eq. 3's policy-gradient step with an EMA baseline and an entropy bonus, on Adam.

    Args:
        controller: the policy to train.
        lr: Adam learning rate beta (assumption: 0.0035, ENAS official).
        baseline_decay: EMA decay of the baseline (assumption: 0.99, ENAS official).
        entropy_weight: weight of the sample entropy added to the reward (assumption: 1e-4, ENAS).
        betas: Adam betas (assumption: PyTorch defaults).
    """

    def __init__(self, controller: Controller, *, lr: float = 0.0035, baseline_decay: float = 0.99,
                 entropy_weight: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999)):
        if not 0 <= baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
        self.controller = controller
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight
        self.optimizer = torch.optim.Adam(controller.parameters(), lr=lr, betas=tuple(betas))
        self.baseline: float | None = None
        self.updates = 0

    def update(self, samples: Sequence[tuple[Sequence[int], float]]) -> dict[str, float]:
        """One Adam step on ``mean_i -log pi(s_i) (R_i + w H_i - b_i)`` over ``samples`` = [(actions, R)].

        The baseline moves towards each (entropy-augmented) reward in order, before that sample's
        advantage is taken (ENAS). The samples must have been drawn under the current parameters
        (on-policy: log pi is re-scored here). Returns the mean loss, mean advantage and the baseline.
        """
        if not samples:
            raise ValueError("REINFORCE needs at least one (actions, reward) sample")
        self.optimizer.zero_grad(set_to_none=True)
        loss, adv_sum = torch.zeros(()), 0.0
        for actions, reward in samples:
            lp, ent = self.controller.log_prob(actions)
            r = float(reward) + self.entropy_weight * float(ent.detach())
            b = r if self.baseline is None else self.baseline - (1 - self.baseline_decay) * (self.baseline - r)
            self.baseline = b
            adv = r - b
            adv_sum += adv
            loss = loss - lp * adv
        loss = loss / len(samples)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        return {"loss": float(loss.detach()), "advantage": adv_sum / len(samples), "baseline": float(self.baseline)}

    def state_dict(self) -> dict:
        return {"controller": self.controller.state_dict(), "optimizer": self.optimizer.state_dict(),
                "baseline": self.baseline, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.updates = int(state["updates"])
