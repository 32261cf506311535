"""Progressive Neural Architecture Search: a beam search from simple to complex cells, ranked by a surrogate.

Reference: C. Liu, B. Zoph, M. Neumann, J. Shlens, W. Hua, L.-J. Li, L. Fei-Fei, A. Yuille, J. Huang and
K. Murphy, "Progressive Neural Architecture Search", ECCV 2018 (arXiv:1712.00559), Algorithm 1; the surrogate
is the paper's MLP-ensemble variant (Section 3.3) by default.

Variant. The paper grows a cell one block at a time. Our spaces have no block structure, so a cell grows one
*label* at a time: labels are fixed in a progression ``order``, and a level-``b`` cell has its first ``b``
labels chosen and every other label at a ``filler`` value, so every partial cell is a complete, evaluable
sample. The level-0 cell (all fillers) is the root. Level ``b`` expands every beam member by every choice of
label ``order[b-1]``; the surrogate (any key of :data:`nni_effnas.predictors.PREDICTORS`, fitted on all
successful observations in its preferred encoding for the space: the path encoding on NAS-Bench-201, one-hot
elsewhere) ranks the unseen feasible expansions by predicted mean, and the top ``beam_size`` (K) are proposed.
Level 1 has no parent but the root, so it proposes every choice of the first label (K of them, ranked by the
surrogate, or at random before any observation, if there are more). When a level's proposals are used up, the
surrogate is refitted on everything observed and the next level starts.

Progression on NAS-Bench-201 (detected from the space's labels and choices): ``order`` is ``edge_0_1,
edge_1_3, edge_0_2, edge_2_3, edge_1_2, edge_0_3`` and the ``filler`` is ``none`` on the edges leaving the
input node (``edge_0_1``, ``edge_0_2``, ``edge_0_3``) and ``skip_connect`` on the others. A level-1 cell is then
a plain network: node 1 applies the chosen op to the input and the filler skips forward it to the output
(twice, directly and through node 2), while nothing else reaches node 2 or the output. Every later level adds
one edge that is *live* when added (on an input -> output path, given that its source node is live): the
filler skips forward a node to the output as soon as an input edge feeds it. With ``none`` everywhere, an edge
such as ``edge_0_1`` would be off every path until ``edge_1_3`` is fixed, so its level would spend K
evaluations on cells that compute their parent's function; with ``skip_connect`` everywhere, partial cells
would be dense residual cells, not simpler ones. The input -> output edge comes last, so the choice between a
plain and a residual cell is made on complete cells: the best NAS-Bench-201 cells have ``skip_connect`` there,
an advantage that appears only once the deep paths exist. Started with that edge, the greedy levels kept the
plain ``nor_conv_3x3`` edge (its one-edge cell beats the skip-only one: 76.0 against 73.6, CIFAR-10 12-epoch
validation accuracy) and the best reward after 30 evaluations averaged 82.3 over 8 seeds, against 83.3 with
this order (K = 3, the MLP ensemble trained for 100 epochs; random search: 82.9).

Generic spaces: ``order`` is the label order and the filler the first choice of each label; both can be given.

Deviations from the paper:

* Levels fix one label, not one block (see above), and the level-1 cells are evaluated like any other (the
  paper trains all of its 136 one-block cells since K = 256 exceeds them).
* Parents compete for the beam: a beam member is its own child with the new label at its filler, which is not
  proposed again (never twice) but keeps its known reward. The next beam is the top K *by observed reward* of
  the level's expansions (new children and parents), where the paper expands all K trained cells. Failed or
  rejected children (``reward=None``) are not fitted and drop out; the beam continues with the rest. Children
  proposed but not yet told when the level ends (parallel trials) do not enter the beam.
* Infeasible expansions (the user's constraint ``feasible``) are skipped, not proposed.
* After the last level the search keeps using its budget (the paper stops): each step proposes the unseen
  feasible sample with the best ``acquisition`` score in a pool of ``candidates`` samples, half mutations (one
  or two labels changed) of the K best observed samples, half uniform random (enumerated once random draws
  find nothing, on spaces of up to 100,000 samples). So ``ask`` returns ``None`` only when no unseen feasible
  sample is left. The default acquisition is the predicted mean, the paper's ranking; ``ei``, ``ucb`` and
  ``its`` (:mod:`nni_effnas.strategies.acquisition`) add the surrogate's uncertainty, which keeps a long
  search from settling on the neighbourhood of its first good cell (``BENCHMARKS.md``). In this phase the
  surrogate is refitted once the rewards since the last fit reach 10 % of those fitted (at least 1).
* The predictor's defaults are smaller than the paper's (see :mod:`nni_effnas.predictors.mlp_ensemble`); a fit
  that fails (or predicts non-finite values) is logged and the candidates are ranked at random instead.

Results told before the first ``ask`` (an ``import_data`` replay) are observations like any other: they are
fitted, never proposed again, and compete for the beam when they are expansions of it. ``state_dict`` holds
the history, the level, the beam and the level's remaining proposals; a restored search refits its surrogate
from the history (same rows, same seed) and continues the same trajectory.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nni_effnas.checks import check_int
from nni_effnas.encodings import encode
from nni_effnas.nb201 import EDGE_LABELS, OPS
from nni_effnas.predictors import PREDICTORS, create_predictor, preferred_encoding
from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.acquisition import ACQUISITIONS, check_acquisition
from nni_effnas.strategies.base import Strategy
from nni_effnas.strategies.candidate_pool import CandidatePool, refit_due

_logger = logging.getLogger(__name__)

#: after the last level, refit once the new rewards reach this fraction of those fitted (at least 1)
_REFIT_FRACTION = 0.1

#: NAS-Bench-201: node 1's route, node 2's route, the 1 -> 2 link, and the input -> output edge last
NB201_ORDER: tuple[str, ...] = ("edge_0_1", "edge_1_3", "edge_0_2", "edge_2_3", "edge_1_2", "edge_0_3")
#: edges leaving the input start empty; the others skip forward, so a newly fed node reaches the output
NB201_FILLER: dict[str, str] = {"edge_0_1": "none", "edge_0_2": "none", "edge_0_3": "none",
                                "edge_1_2": "skip_connect", "edge_1_3": "skip_connect", "edge_2_3": "skip_connect"}


def is_nb201(space: CategoricalSpace) -> bool:
    """True when ``space`` has NAS-Bench-201's edge labels, each with its 5 ops (in any order)."""
    choices = space.as_dict()
    return set(choices) == set(EDGE_LABELS) and all(set(values) == set(OPS) for values in choices.values())


@STRATEGIES.register("pnas", aliases=("progressive",))
class PNAS(CandidatePool, Strategy):
    """Beam search over progressively fixed labels, expansions ranked by a surrogate (Liu et al. 2018).

    Args:
        beam_size: K, the cells kept (and proposed) per level (the paper: 256; 3 suits budgets of tens of
            evaluations: on NAS-Bench-201 the 6 levels then take 6 x 3 = 18).
        predictor: registry key of the surrogate (``mlp_ensemble``, ``random_forest``, ``gp``, ``gbm``, ``gnn``).
        predictor_args: its keyword arguments except ``random_state``, which each fit draws from this strategy's
            generator.
        order: the labels in the order they are fixed (a permutation of the space's labels); ``None``: the
            NAS-Bench-201 order on that space, the label order elsewhere.
        filler: the value of a label not fixed yet: a dict ``label -> choice`` (labels left out get the
            default) or one choice for every label; ``None``: the defaults (NAS-Bench-201: ``none`` on the
            input's edges, ``skip_connect`` on the others; elsewhere the first choice of each label).
        candidates: size of the pool scored per step after the last level.
        acquisition: how that pool is ranked: ``mean`` (the predicted mean, as the levels are), ``ei``,
            ``ucb`` or ``its`` (:mod:`nni_effnas.strategies.acquisition`).
        beta: UCB's exploration weight.
        seed: seed of this strategy's generator.
    """

    unique_samples = True

    def __init__(
        self,
        *,
        beam_size: int = 3,
        predictor: str = "mlp_ensemble",
        predictor_args: Mapping[str, Any] | None = None,
        order: Sequence[str] | None = None,
        filler: Any = None,
        candidates: int = 100,
        acquisition: str = "mean",
        beta: float = 0.5,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.beam_size, self.candidates = check_int("beam_size", beam_size), check_int("candidates", candidates)
        self.acquisition, self.beta = check_acquisition(acquisition, beta)
        self.predictor = PREDICTORS.canonical(predictor)
        self.predictor_args = dict(predictor_args or {})
        if "random_state" in self.predictor_args:
            raise ValueError("predictor_args must not set random_state; each fit draws it from the strategy's seed")
        create_predictor(self.predictor, **self.predictor_args)  # bad arguments fail here, with the name
        if order is not None and (isinstance(order, str) or not isinstance(order, Sequence)):
            raise ValueError(f"order must be a list of labels, got {order!r}")
        self.order_arg = None if order is None else [str(label) for label in order]
        self.filler_arg = filler
        self.order_: tuple[str, ...] = ()
        self.filler_: Sample = {}
        self.kind_: str | None = None
        self.history: list[tuple[Sample, float]] = []  # successful observations, in the order told
        self.rewards: dict[str, float] = {}  # key -> reward of ``history``
        self.proposed: set[str] = set()  # every sample asked or told, successful or not
        self.level = 0  # 0: not started; 1..L: the level being proposed; L + 1: after the last level
        self.beam: list[Sample] = []  # the parents of the current level's expansions
        self.queue: list[Sample] = []  # the current level's proposals not yet asked, best first
        self.model_: Any = None
        self.fit_info: dict[str, int] | None = None  # after the last level: {"n": rewards fitted, "seed": ...}

    def setup(self, space: CategoricalSpace, *, feasible: Callable[[Sample], bool] | None = None) -> None:
        super().setup(space, feasible=feasible)
        nb201 = is_nb201(space)
        order = self.order_arg if self.order_arg is not None else (list(NB201_ORDER) if nb201 else space.labels)
        if sorted(order) != sorted(space.labels):
            raise ValueError(f"order {list(order)} is not a permutation of the space's labels {list(space.labels)}")
        self.order_ = tuple(order)
        choices = space.as_dict()
        default = dict(NB201_FILLER) if nb201 else {label: values[0] for label, values in space.choices}
        if self.filler_arg is None:
            filler = default
        elif isinstance(self.filler_arg, Mapping):
            unknown = sorted(set(map(str, self.filler_arg)) - set(space.labels))
            if unknown:
                raise ValueError(f"filler names unknown labels {unknown}; the space has {list(space.labels)}")
            filler = {**default, **self.filler_arg}
        else:
            filler = {label: self.filler_arg for label in space.labels}
        for label, value in filler.items():
            if value not in choices[label]:
                raise ValueError(f"filler {value!r} for label {label!r} is not one of {list(choices[label])}")
        self.filler_ = {label: filler[label] for label in space.labels}
        self.kind_ = preferred_encoding(self.predictor, space)
        if self.level == 0:
            self.beam = [dict(self.filler_)]

    # -- ask / tell --------------------------------------------------------------------------------------------
    def ask(self) -> Sample | None:
        space = self._space()
        while len(self.proposed) < space.size:
            while self.queue:
                sample = self.queue.pop(0)
                if space.key(sample) not in self.proposed:
                    return self._propose(sample)
            if self.level > len(self.order_):
                return self._propose(self._after_last_level())
            self._next_level()
        return None

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        told = self._record(sample, reward, self.rewards)
        if told is None:
            return
        sample, key = told
        self.rewards[key] = float(reward)
        self.history.append((sample, float(reward)))

    def _propose(self, sample: Sample | None) -> Sample | None:
        if sample is not None:
            self.proposed.add(self._space().key(sample))
        return sample

    # -- the levels ----------------------------------------------------------------------------------------------
    def expansions(self, parents: list[Sample], level: int) -> list[Sample]:
        """Every parent with label ``order[level - 1]`` set to each of its choices (parents included), unique."""
        space, label = self._space(), self.order_[level - 1]
        out, seen = [], set()
        for parent in parents:
            for value in space.as_dict()[label]:
                child = {**parent, label: value}
                if space.key(child) not in seen:
                    seen.add(space.key(child))
                    out.append(child)
        return out

    def _next_level(self) -> None:
        """Close the current level (its best observed expansions become the beam) and open the next: rank its
        unseen feasible expansions with a freshly fitted surrogate and queue the top K."""
        space = self._space()
        if self.level >= 1:
            done = [s for s in self.expansions(self.beam, self.level) if space.key(s) in self.rewards]
            if done:  # stable sort: ties keep the expansion order
                self.beam = sorted(done, key=lambda s: -self.rewards[space.key(s)])[: self.beam_size]
        self.level += 1
        if self.level > len(self.order_):
            return
        fresh = [s for s in self.expansions(self.beam, self.level) if space.key(s) not in self.proposed
                 and (self.feasible is None or self.feasible(s))]
        if len(fresh) > self.beam_size or self.level > 1:
            scores = self._level_scores(fresh)
            fresh = [fresh[int(i)] for i in np.argsort(-scores, kind="stable")[: self.beam_size]]
        self.queue = fresh

    def _level_scores(self, pool: list[Sample]) -> np.ndarray:
        """Predicted means from a surrogate fitted on every observation; random scores when there is none or
        the fit fails."""
        if not pool:
            return np.zeros(0)
        seed = int(self.rng.integers(2**31))
        if self.history:
            try:
                return self._predict(self._fit(len(self.history), seed), pool)
            except Exception as exc:  # noqa: BLE001 - a predictor failing must not stop the search
                _logger.warning("predictor %s failed (%s: %s); ranking at random", self.predictor,
                                type(exc).__name__, exc)
        return self.rng.random(len(pool))

    # -- after the last level ------------------------------------------------------------------------------------
    def _after_last_level(self) -> Sample | None:
        pool = self._pool()
        if not pool:
            return None
        n = len(self.history)
        if n and refit_due(n, self.fit_info, every=1, fraction=_REFIT_FRACTION):
            self.fit_info = {"n": n, "seed": int(self.rng.integers(2**31))}
            self.model_ = None
        if self.fit_info is None:  # nothing observed yet (every result failed): a random candidate
            return pool[int(self.rng.integers(len(pool)))]
        try:
            if self.model_ is None:
                self.model_ = self._fit(self.fit_info["n"], self.fit_info["seed"])
            return pool[int(np.argmax(self._acquire(self.model_, pool)))]
        except Exception as exc:  # noqa: BLE001
            _logger.warning("predictor %s failed (%s: %s); proposing a random sample", self.predictor,
                            type(exc).__name__, exc)
            self.model_ = None
            return pool[int(self.rng.integers(len(pool)))]

    def _pool(self) -> list[Sample]:
        """Half mutations of the K best observed samples (1 or 2 labels changed), half random; unseen, feasible."""
        best = sorted(self.history, key=lambda item: -item[1])[: self.beam_size]
        return self._mutation_pool([sample for sample, _ in best], self.candidates)

    # -- the surrogate ---------------------------------------------------------------------------------------
    def _fit(self, n: int, seed: int) -> Any:
        rows = self.history[:n]
        X = encode(self._space(), [s for s, _ in rows], self.kind_)
        model = create_predictor(self.predictor, random_state=seed, **self.predictor_args)
        return model.fit(X, np.array([r for _, r in rows]))

    def _predict(self, model: Any, pool: list[Sample], *, return_std: bool = False) -> Any:
        """The predicted means, or ``(mean, std)``; non-finite predictions raise."""
        X = encode(self._space(), pool, self.kind_)
        out = [np.asarray(a, dtype=np.float64) for a in (model.predict(X, return_std=True) if return_std
                                                          else (model.predict(X),))]
        if not all(np.isfinite(a).all() for a in out):
            raise FloatingPointError("the predictor predicted non-finite values")
        return tuple(out) if return_std else out[0]

    def _acquire(self, model: Any, pool: list[Sample]) -> np.ndarray:
        """The acquisition's score of each candidate (the plain mean for ``mean``)."""
        if self.acquisition == "mean":
            return self._predict(model, pool)
        mean, std = self._predict(model, pool, return_std=True)
        best = max(r for _, r in self.history[: self.fit_info["n"]])
        return ACQUISITIONS[self.acquisition](mean, std, best, self.rng, self.beta)

    # -- persistence -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "history": [[s, r] for s, r in self.history],
                "proposed": sorted(self.proposed), "level": self.level, "beam": self.beam, "queue": self.queue,
                "fit": self.fit_info}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        space = self._space()
        self.history = [(space.validate(s), float(r)) for s, r in state.get("history", ())]
        self.rewards = {space.key(s): r for s, r in self.history}
        self.proposed = set(state.get("proposed", ())) | set(self.rewards)
        self.level = int(state.get("level", 0))
        self.beam = [space.validate(s) for s in state.get("beam", ())] or [dict(self.filler_)]
        self.queue = [space.validate(s) for s in state.get("queue", ())]
        self.fit_info = dict(state["fit"]) if state.get("fit") else None
        self.model_ = None  # refit from the history (same rows, same seed) on the next ask
