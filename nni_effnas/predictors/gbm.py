"""Gradient-boosted trees, registered as ``"gbm"``: a strong, cheap baseline.

Papers: J. H. Friedman, "Stochastic Gradient Boosting", Computational Statistics & Data Analysis 38, 2002 (row
subsampling per tree); R. Luo, X. Tan, R. Wang, T. Qin, E. Chen and T.-Y. Liu, "Accuracy Prediction with
Non-neural Model for Neural Architecture Search", arXiv:2007.04785, 2020 (GBDT-NAS: boosted trees as the
NAS predictor); C. White et al., "How Powerful are Performance Predictors in Neural Architecture Search?",
NeurIPS 2021 (boosted trees among the best predictors).

Variant implemented: scikit-learn's ``GradientBoostingRegressor`` (squared error, 100 trees of depth 3,
learning rate 0.1, ``subsample=0.8``); the plain ``GradientBoostingRegressor`` rather than the histogram one,
whose 20-sample minimum leaf size suits histories of tens of points badly. Boosting has no uncertainty of its
own; here it is an ensemble of ``n_members`` boosted models that differ only in their subsampling seed, and
``std`` is the spread of their predictions. This is an honest but optimistic approximation: it measures the
sensitivity to the row subsamples, not the epistemic uncertainty, and shrinks as the history grows.
(LightGBM/XGBoost in GBDT-NAS and NASLib; quantile models were not used: with tens of points they model the
noise of the targets badly and say nothing about unexplored regions.)
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor

from nni_effnas.checks import check_int
from nni_effnas.predictors import PREDICTORS
from nni_effnas.predictors.base import Predictor


@PREDICTORS.register("gbm")
class GradientBoosting(Predictor):
    """An ensemble over subsampling seeds of scikit-learn gradient boosting; std is the spread across members."""

    encodings = ("path", "onehot", "adjacency")

    def __init__(self, *, n_members: int = 5, n_estimators: int = 100, max_depth: int = 3, learning_rate: float = 0.1,
                 subsample: float = 0.8, random_state: int = 0) -> None:
        self.n_members = n_members
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.random_state = random_state

    def _fit(self, X: np.ndarray, z: np.ndarray) -> None:
        check_int("GradientBoosting n_members", self.n_members)
        seeds = np.random.SeedSequence(self._seed()).generate_state(self.n_members)
        self.members_ = [
            GradientBoostingRegressor(
                n_estimators=self.n_estimators, max_depth=self.max_depth, learning_rate=self.learning_rate,
                subsample=self.subsample, random_state=int(seed),
            ).fit(X, z)
            for seed in seeds
        ]

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_member = np.stack([member.predict(X) for member in self.members_])
        return per_member.mean(axis=0), per_member.std(axis=0)
