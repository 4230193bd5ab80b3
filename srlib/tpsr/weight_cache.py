"""TPSR's weight sharing across generator candidates (Lee et al., ECCV 2020, Sec. 3.2, Eq. 5).

The paper: for each node i and each operation o of Op the cache keeps weights theta_{o,i}; at step t the
candidate s_t starts from the cached weights of its (node, op) pairs (Alg. 1 line 16) and after training
(line 22) the trained weights theta^_{o,i,t} replace the cached ones only where s_t(i) = o and

    E(s_t) > max_{s_p in P_{o,i,t-1}} E(s_p),   P_{o,i,t-1} = architectures explored before t with o at node i,

otherwise theta_{o,i,t+1} = theta_{o,i,t} (Eq. 5); theta_{o,i,0} ~ N (a fresh initialisation).

Symbols -> names: theta_{o,i,t} = ``entries[(i, o)].weights`` (the node's module ``state_dict``);
max_{P_{o,i,t-1}} E = ``entries[(i, o)].score`` (only a better score ever writes, so the stored score is
that maximum; a pair never explored has none, i.e. -inf); E(s_t) = the ``score`` given to :meth:`offer`
(TPSR: the proxy task's validation PSNR). Ties do not replace (the inequality is strict). A candidate
rejected by the Mult-Adds limit is never trained or offered (it is not in tau(t), Alg. 1 lines 7-8).

Assumption (the paper names only per-node operation weights): the template's weights (stem conv, the
PReLU after the leaf sum, the upsampler) are one more entry, ``TEMPLATE``, under the same rule with the
candidate's score (every candidate trains them, so it holds the best candidate's so far). Set
``share_template=False`` to start them fresh for every candidate instead.

Weights are kept as CPU tensor copies; :meth:`state_dict` is a plain dict of tensors, floats and strings
(weights-only loadable).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

__all__ = ["WeightCache", "TEMPLATE"]

#: The cache key of the template's weights (stem, cell activation, upsampler).
TEMPLATE = "template"


def _key(node: int, op: str) -> str:
    return f"{node}:{op}"


def _template_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith("cell.")}


class WeightCache:
    """theta_{o,i} of Eq. 5 for the cells of a :class:`srlib.tpsr.cell.TPSRGenerator`."""

    def __init__(self, share_template: bool = True):
        self.share_template = share_template
        self.scores: dict[str, float] = {}
        self.weights: dict[str, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.scores)

    def __contains__(self, key: tuple[int, str] | str) -> bool:
        return (key if isinstance(key, str) else _key(*key)) in self.scores

    def score(self, node: int, op: str) -> float | None:
        """max E over the explored architectures with ``op`` at ``node`` (None: never explored)."""
        return self.scores.get(_key(node, op))

    def initialise(self, model: nn.Module, genotype: Sequence[tuple[str, int]]) -> list[str]:
        """Alg. 1 line 16: load theta_{s(i), i} into node i of ``model.cell`` wherever the cache holds it
        (and the template, if shared); other weights keep their fresh initialisation. Returns the keys
        loaded."""
        self._check(model, genotype)
        loaded = []
        for i, (op, _) in enumerate(genotype):
            k = _key(i, op)
            if k in self.weights:
                model.cell.nodes[i].load_state_dict(self.weights[k])
                loaded.append(k)
        if self.share_template and TEMPLATE in self.weights:
            missing, unexpected = model.load_state_dict(self.weights[TEMPLATE], strict=False)
            if unexpected or any(not m.startswith("cell.") for m in missing):
                raise ValueError(f"cached template does not fit the model (missing {missing}, unexpected {unexpected})")
            loaded.append(TEMPLATE)
        return loaded

    def offer(self, model: nn.Module, genotype: Sequence[tuple[str, int]], score: float) -> list[str]:
        """Alg. 1 line 22 / Eq. 5: after ``model`` (architecture ``genotype``) was trained and scored E =
        ``score``, store node i's weights under (i, s(i)) where ``score`` beats that pair's best so far.
        Returns the keys replaced."""
        self._check(model, genotype)
        score = float(score)
        if score != score:  # NaN: never better than anything (a diverged candidate)
            return []
        replaced = []
        for i, (op, _) in enumerate(genotype):
            k = _key(i, op)
            if k not in self.scores or score > self.scores[k]:
                self.scores[k] = score
                self.weights[k] = {n: t.detach().cpu().clone() for n, t in model.cell.nodes[i].state_dict().items()}
                replaced.append(k)
        if self.share_template and (TEMPLATE not in self.scores or score > self.scores[TEMPLATE]):
            self.scores[TEMPLATE] = score
            self.weights[TEMPLATE] = _template_state(model)
            replaced.append(TEMPLATE)
        return replaced

    @staticmethod
    def _check(model: nn.Module, genotype: Sequence[tuple[str, int]]) -> None:
        cell = getattr(model, "cell", None)
        if cell is None or tuple(map(tuple, genotype)) != tuple(cell.genotype):
            raise ValueError("the model's cell does not match the genotype given to the weight cache")

    def state_dict(self) -> dict:
        return {"share_template": self.share_template, "scores": dict(self.scores),
                "weights": {k: dict(v) for k, v in self.weights.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.share_template = bool(state["share_template"])
        self.scores = {str(k): float(v) for k, v in state["scores"].items()}
        self.weights = {str(k): dict(v) for k, v in state["weights"].items()}
