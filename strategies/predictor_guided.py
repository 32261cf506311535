"""Predictor-guided search (BANANAS): Bayesian optimisation with a neural predictor over architecture encodings.

Reference: C. White, W. Neiswanger and Y. Savani, "BANANAS: Bayesian Optimization with Neural Architectures for
Neural Architecture Search", AAAI 2021 (arXiv:1910.11858), Algorithm 1.

Variant: evaluate ``initial`` random samples; then at every step fit a predictor (default the paper's ensemble of
MLPs, ``mlp_ensemble``; any key of :data:`nni_effnas.predictors.PREDICTORS`) on all successful observations in
its preferred encoding (the path encoding on NAS-Bench-201, one-hot on any other categorical space), build a pool
of ``candidates`` unseen samples, score them with the acquisition and propose the best. Acquisitions:
``its`` (the paper's independent Thompson sampling: one draw from ``N(mean, std)`` per candidate), ``ucb``
(``mean + beta * std``), ``ei`` (expected improvement over the best observed reward) and ``mean`` (greedy).

Deviations from the paper:

* Sequential: one proposal per step (the paper proposes a batch of k = 10 per fit). A fit is reused until
  ``max(refit_every, refit_fraction * n)`` new rewards have arrived (n: rewards at the last fit): every step
  while the history is small (below 20 rewards with the defaults), every 50th step at 500 observations, which
  keeps the mean suggestion latency at 500 observations under 100 ms (see BENCHMARKS.md).
* Candidate pool: half are mutations (one or two labels changed) of the ``parents`` best observed samples, as
  the paper's mutation-based acquisition optimisation; the other half are uniform random samples, which keep
  the search from collapsing onto one neighbourhood when the history is small. Isomorphic cells are not
  merged. Candidates are unseen and pass the user's constraint (``feasible``), so the search never proposes a
  sample twice and never pays for a rejection after the initial phase (the initial samples are filtered too).
* The predictor's own defaults are smaller than the paper's network (see :mod:`nni_effnas.predictors.mlp_ensemble`).
* A fit that fails (or predicts non-finite values) is logged and the step falls back to a random sample.
* Optional zero-cost warm start (``zero_cost``): the initial samples are the best of a scored pool rather than
  random ones (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, Section 5.1: warmup);
  optional zero-cost feature (``zc_feature``): each proxy's score (signed ``log1p``) is appended to the
  encoding as a column standardised on the fitted rows (White et al., "How Powerful are Performance Predictors
  in Neural Architecture Search?", NeurIPS 2021, feed zero-cost scores to their OMNI predictor as features).

Measured (NAS-Bench-201 CIFAR-10, 10 % of the NATS-Bench budget, about 18 evaluations of which 10 initial, 30
seeds): 200-epoch test accuracy of the best-reward cell 93.23 +- 0.14 (s.e.m.) against 92.99 +- 0.16 for aging
evolution and 92.79 +- 0.17 for random search; each fit of the default predictor adds about 0.4 s (100
observations, one CPU thread) to the simulated clock.

Failed or rejected samples (``reward=None``) and non-finite rewards count as proposed but are not fitted. The
initial phase lasts until ``initial`` rewards are known, so after an ``import_data`` replay (``tell`` before any
``ask``) the search goes straight to the predictor.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import numpy as np

from nni_effnas.checks import check_int, is_number
from nni_effnas.encodings import append_features, available_encodings, encode
from nni_effnas.predictors import PREDICTORS, create_predictor, preferred_encoding
from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.acquisition import ACQUISITIONS, check_acquisition
from nni_effnas.strategies.base import Strategy
from nni_effnas.strategies.candidate_pool import CandidatePool, refit_due
from nni_effnas.strategies.zc_common import ZeroCostMixin

_logger = logging.getLogger(__name__)


@STRATEGIES.register("predictor_guided", aliases=("bananas",))
class BANANAS(ZeroCostMixin, CandidatePool, Strategy):
    """Fit a predictor on the history, propose the candidate the acquisition likes best (White et al. 2021).

    Args:
        predictor: registry key of the predictor (``mlp_ensemble``, ``random_forest``, ``gp``, ``gbm``, ``gnn``).
        predictor_args: its keyword arguments except ``random_state``, which each fit draws from this strategy's
            generator.
        encoding: encoding kind the predictor reads (``onehot``, ``path``, ``adjacency``); ``None``: the
            predictor's preferred one that the space has.
        acquisition: ``its``, ``ucb``, ``ei`` or ``mean`` (:mod:`nni_effnas.strategies.acquisition`).
        beta: UCB's exploration weight.
        initial: rewards collected from random (or zero-cost warm-start) samples before the first fit.
        candidates: size of the pool scored per step (half mutations, half random).
        parents: the mutations are of this many best observed samples.
        refit_every: refit after at least this many new rewards.
        refit_fraction: ... and after at least this fraction of the rewards of the last fit (0: refit on
            ``refit_every`` alone).
        zero_cost: ``True`` or a dict of scorer settings (see
            :class:`~nni_effnas.strategies.zc_common.ZeroCostMixin`, plus ``pool_size``, default 500): the
            initial samples are the pool's best by zero-cost score. ``False``: random initial samples.
        zc_feature: append each sample's zero-cost score to its encoding (needs ``zero_cost``).
        search_space, dataset: the networks the zero-cost scorer builds (``benchmark_args`` fills them in on a
            tabular benchmark); unused without ``zero_cost``; keys of a ``zero_cost`` dict take precedence.
        seed: seed of this strategy's generator.
    """

    unique_samples = True

    def __init__(
        self,
        *,
        predictor: str = "mlp_ensemble",
        predictor_args: Mapping[str, Any] | None = None,
        encoding: str | None = None,
        acquisition: str = "its",
        beta: float = 0.5,
        initial: int = 10,
        candidates: int = 100,
        parents: int = 10,
        refit_every: int = 1,
        refit_fraction: float = 0.1,
        zero_cost: bool | Mapping[str, Any] = False,
        zc_feature: bool = False,
        search_space: str = "nb201",
        dataset: str | None = "cifar10",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.predictor = PREDICTORS.canonical(predictor)
        self.predictor_args = dict(predictor_args or {})
        if "random_state" in self.predictor_args:
            raise ValueError("predictor_args must not set random_state; each fit draws it from the strategy's seed")
        create_predictor(self.predictor, **self.predictor_args)  # bad arguments fail here, with the name
        reads = PREDICTORS.get(self.predictor).encodings
        if encoding is not None and encoding not in reads:
            raise ValueError(f"predictor {self.predictor!r} reads {list(reads)}, not encoding {encoding!r}")
        acquisition, beta = check_acquisition(acquisition, beta)
        for name, value, low in (("initial", initial, 0), ("candidates", candidates, 1), ("parents", parents, 1),
                                 ("refit_every", refit_every, 1)):
            check_int(name, value, low)
        self.encoding, self.acquisition, self.beta = encoding, acquisition, beta
        if not is_number(refit_fraction) or not 0 <= refit_fraction <= 1:
            raise ValueError(f"refit_fraction must be a number in [0, 1], got {refit_fraction!r}")
        self.initial, self.candidates, self.parents, self.refit_every = initial, candidates, parents, refit_every
        self.refit_fraction = float(refit_fraction)
        self.zc_feature = bool(zc_feature)
        self.zc_pool_size = self._setup_zero_cost(zero_cost, search_space=search_space, dataset=dataset)
        if self.zc_feature and not self.zc_pool_size:
            raise ValueError("zc_feature=True needs a zero-cost scorer: pass zero_cost=True or a dict of settings")
        self.history: list[tuple[Sample, float]] = []  # successful observations, in the order told
        self.proposed: set[str] = set()  # every sample asked or told, successful or not
        self._observed: set[str] = set()  # keys of ``history``
        self.queue: list[Sample] | None = None  # zero-cost warm start: the pool, best first, not yet proposed
        self.model_: Any = None
        self.fit_info: dict[str, int] | None = None  # {"n": rewards fitted, "seed": its random_state}
        self.kind_: str | None = None

    def _setup_zero_cost(self, zero_cost: bool | Mapping[str, Any], **defaults: Any) -> int:
        """Initialise the scorer settings when ``zero_cost`` is on; return the warm-start pool size (0: off)."""
        self._scorer, self._scorer_state = None, {}
        if zero_cost is False or zero_cost is None:
            return 0
        if zero_cost is True:
            zero_cost = {}
        if not isinstance(zero_cost, Mapping):
            raise TypeError(f"zero_cost must be a bool or a dict of scorer settings, got {type(zero_cost).__name__}")
        settings = {**defaults, **zero_cost}
        pool_size = check_int("zero_cost pool_size", settings.pop("pool_size", 500))
        try:
            self._init_zero_cost(**settings)
        except TypeError as exc:
            raise ValueError(f"bad zero_cost settings: {exc}") from None
        return pool_size

    def setup(self, space: CategoricalSpace, *, feasible: Callable[[Sample], bool] | None = None) -> None:
        super().setup(space, feasible=feasible)
        if self.encoding is None:
            self.kind_ = preferred_encoding(self.predictor, space)
        elif self.encoding not in available_encodings(space):
            raise ValueError(f"encoding {self.encoding!r} is not available for this space; it has: "
                             f"{', '.join(available_encodings(space))}")
        else:
            self.kind_ = self.encoding

    # -- ask / tell --------------------------------------------------------------------------------------------
    def ask(self) -> Sample | None:
        space = self._space()
        if len(self.proposed) >= space.size:
            return None
        if len(self.history) < max(self.initial, 1):
            sample = self._warm_start() if self.zc_pool_size else None
            return self._propose(sample if sample is not None else self._random_one())
        pool = self._candidates()
        if not pool:
            return None
        try:
            scores = self._scores(pool)
        except Exception as exc:  # noqa: BLE001 - a predictor failing must not stop the search
            _logger.warning("predictor %s failed (%s: %s); proposing a random sample", self.predictor,
                            type(exc).__name__, exc)
            self.model_ = None
            return self._propose(self._random_one())
        return self._propose(pool[int(np.argmax(scores))])

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        told = self._record(sample, reward, self._observed)
        if told is None:
            return
        sample, key = told
        self._observed.add(key)
        self.history.append((sample, float(reward)))

    def _propose(self, sample: Sample | None) -> Sample | None:
        if sample is not None:
            self.proposed.add(self._space().key(sample))
        return sample

    # -- initial samples -------------------------------------------------------------------------------------
    def _warm_start(self) -> Sample | None:
        if self.queue is None:
            self.queue = self._ranked_pool(self.zc_pool_size)
        while self.queue:
            sample = self.queue.pop(0)
            if self._space().key(sample) not in self.proposed:
                return sample
        return None

    def _random_one(self) -> Sample | None:
        found = self._random_unseen(1, set())
        return found[0] if found else None

    # -- the predictor step ------------------------------------------------------------------------------------
    def _scores(self, pool: list[Sample]) -> np.ndarray:
        """The acquisition's value of each candidate, from the predictor (refitted if due)."""
        mean, std = self._predict(pool)
        best = max(r for _, r in self.history)
        return ACQUISITIONS[self.acquisition](mean, std, best, self.rng, self.beta)

    def _predict(self, pool: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
        """The predictor's mean and standard deviation for each candidate (refitted first if due)."""
        self._ensure_model()
        fitted = [s for s, _ in self.history[: self.fit_info["n"]]] if self.zc_feature else []
        _, X_pool = self._features(fitted, pool)
        mean, std = self.model_.predict(X_pool, return_std=True)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise FloatingPointError("the predictor predicted non-finite values")
        return mean, std

    def _ensure_model(self) -> None:
        """Refit when enough new rewards arrived since the last fit (``refit_every``, ``refit_fraction``); after
        ``load_state_dict``, rebuild the last fit (same rows, same seed) if no refit is due, so a resumed search
        continues its trajectory."""
        n = len(self.history)
        if refit_due(n, self.fit_info, every=self.refit_every, fraction=self.refit_fraction):
            self.fit_info = {"n": n, "seed": int(self.rng.integers(2**31))}
            self.model_ = None
        if self.model_ is None:
            rows = self.history[: self.fit_info["n"]]
            X, _ = self._features([s for s, _ in rows], [])
            model = create_predictor(self.predictor, random_state=self.fit_info["seed"], **self.predictor_args)
            self.model_ = model.fit(X, np.array([r for _, r in rows]))

    def _features(self, train: list[Sample], pool: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
        """Encoded rows of ``train`` and ``pool``. With ``zc_feature`` each proxy's score is appended as a
        column (signed ``log1p``: synflow spans dozens of orders of magnitude), standardised with the statistics
        of the ``train`` rows, so pass the rows the model is (or was) fitted on."""
        X = encode(self._space(), train + pool, self.kind_)
        if self.zc_feature:
            X = append_features(X, self._zc_columns(train + pool), fit_rows=np.arange(len(train)))
        return X[: len(train)], X[len(train):]

    def _zc_columns(self, samples: list[Sample]) -> dict[str, np.ndarray]:
        """Per-proxy scores (a scorer without ``score_many`` gives its ``rank``, which must not depend on the
        other samples: an aggregated rank of several proxies would)."""
        scorer = self.scorer
        raw = scorer.score_many(samples) if hasattr(scorer, "score_many") else {"zero_cost": scorer.rank(samples)}
        return {name: np.sign(v) * np.log1p(np.abs(v)) for name, v in raw.items()}

    def _candidates(self) -> list[Sample]:
        """Half mutations of the ``parents`` best observed samples (1 or 2 labels changed), half random; unseen,
        feasible."""
        ranked = sorted(self.history, key=lambda item: -item[1])[: self.parents]
        return self._mutation_pool([sample for sample, _ in ranked], self.candidates)

    # -- persistence -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "history": [[s, r] for s, r in self.history],
                "proposed": sorted(self.proposed), "fit": self.fit_info, "queue": self.queue,
                "zero_cost": self._zc_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.history = [(dict(s), float(r)) for s, r in state.get("history", ())]
        self.proposed = set(state.get("proposed", ()))
        space = self._space()
        self._observed = {space.key(s) for s, _ in self.history}
        self.fit_info = dict(state["fit"]) if state.get("fit") else None
        self.queue = [dict(s) for s in state["queue"]] if state.get("queue") is not None else None
        self.model_ = None  # refit from the history on the next ask
        self._load_zc_state(state.get("zero_cost", {}))
