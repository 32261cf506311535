"""What every predictor is: a scikit-learn regressor over encoded architectures that also gives an uncertainty.

Contract (NASLib's ``Predictor.fit/query``, in scikit-learn's form):

* ``__init__`` only stores keyword-only parameters (so ``sklearn.base.clone`` and ``get_params`` work); the
  seed is ``random_state`` (an ``int``, default 0): same seed, same predictions, also in another process.
* ``fit(X, y) -> self`` on an ``(n, d)`` float matrix of encoded architectures (:func:`nni_effnas.encodings.encode`)
  and ``n`` targets (e.g. validation accuracy). Fitted attributes end in ``_``.
* ``predict(X, return_std=False)``: the mean, or ``(mean, std)`` with ``std >= 0`` the predictor's own
  uncertainty (ensemble spread, GP posterior, spread across trees), in the units of ``y``.
* ``encodings``: the encodings it reads, preferred first (:func:`preferred_encoding` picks one for a space).

Subclasses implement ``_fit(X, z)`` and ``_predict(X) -> (mean, std)`` on standardised targets
``z = (y - mean(y)) / std(y)``; this class does the checks and the scaling. Bad input, decided once here:

* ``X`` not 2-D or not finite, ``len(X) != len(y)``, or no finite target at all: one-line ``ValueError``.
* Non-finite targets (failed trials): those rows are dropped with a ``RuntimeWarning``.
* One finite target, or constant targets: nothing to learn; the predictor predicts that constant with
  ``std = 0`` (so a search with a one-point history does not crash; an acquisition sees no information).
* ``predict`` before ``fit``: scikit-learn's ``NotFittedError``; a different column count: ``ValueError``.
"""
from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from nni_effnas.checks import check_int


class Predictor(RegressorMixin, BaseEstimator):
    """Base of the registered predictors (see the module docstring for the contract)."""

    #: encodings the predictor reads, preferred first
    encodings: ClassVar[tuple[str, ...]] = ("onehot", "path", "adjacency")

    def fit(self, X: Any, y: Any) -> "Predictor":
        X, y = self._check_training_data(X, y)
        self.n_features_in_ = X.shape[1]
        self.n_train_ = len(y)
        self.y_mean_ = float(y.mean())
        scale = float(y.std())
        self.constant_ = bool(len(y) == 1 or scale <= 1e-12 * max(1.0, abs(self.y_mean_)))
        self.y_scale_ = 1.0 if self.constant_ else scale
        if not self.constant_:
            self._fit(X, (y - self.y_mean_) / self.y_scale_)
        return self

    def predict(self, X: Any, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "n_features_in_")
        X = self._check_matrix(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__} was fitted on {self.n_features_in_} columns, got {X.shape[1]}")
        if self.constant_ or len(X) == 0:
            mean, std = np.full(len(X), self.y_mean_), np.zeros(len(X))
        else:
            mean_z, std_z = self._predict(X)
            mean = self.y_mean_ + self.y_scale_ * np.asarray(mean_z, dtype=np.float64)
            std = self.y_scale_ * np.maximum(np.asarray(std_z, dtype=np.float64), 0.0)
        return (mean, std) if return_std else mean

    # -- for subclasses ----------------------------------------------------------------------------------
    def _fit(self, X: np.ndarray, z: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _seed(self) -> int:
        return check_int(f"{type(self).__name__} random_state", getattr(self, "random_state", 0), 0)

    # -- checks ------------------------------------------------------------------------------------------
    def _check_matrix(self, X: Any) -> np.ndarray:
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__} takes an encoded (n, d) float matrix; encode samples first "
                             "with nni_effnas.encodings.encode") from None
        if X.ndim != 2:
            raise ValueError(f"{type(self).__name__} takes an encoded (n, d) matrix, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError(f"{type(self).__name__}: X has non-finite values in rows "
                             f"{np.flatnonzero(~np.isfinite(X).all(axis=1))[:5].tolist()}")
        return X

    def _check_training_data(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        X = self._check_matrix(X)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise ValueError(f"{name}: y must be 1-D, got shape {y.shape}")
        if len(X) != len(y):
            raise ValueError(f"{name}: X has {len(X)} rows but y has {len(y)} values")
        finite = np.isfinite(y)
        if not finite.any():
            raise ValueError(f"{name} needs at least one finite target, got {len(y)} rows"
                             + (" (all non-finite)" if len(y) else ""))
        if not finite.all():
            warnings.warn(f"{name}: dropped {int((~finite).sum())} of {len(y)} rows with non-finite targets",
                          RuntimeWarning, stacklevel=3)
        return X[finite], y[finite]
