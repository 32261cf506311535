"""Performance predictors: regressors from an encoded architecture to its accuracy, with an uncertainty.

Registry keys (public API): ``mlp_ensemble``, ``gnn``, ``gp``, ``random_forest``, ``gbm``. Each is a
scikit-learn estimator class following :class:`~nni_effnas.predictors.base.Predictor`'s contract::

    fit(X, y) -> self;  predict(X) -> mean;  predict(X, return_std=True) -> (mean, std)

on matrices from :func:`nni_effnas.encodings.encode`; a predictor's ``encodings`` lists those it reads,
preferred first. The GNN reads the ``adjacency`` rows of the space named by its ``space`` parameter and
unflattens them into graphs. Papers, variants and deviations are in each module's docstring. The torch
predictors import torch on their first fit: NNI's dispatcher must import a tuner within 10 seconds of its start.

Example::

    from nni_effnas.encodings import encode
    from nni_effnas.predictors import create_predictor, preferred_encoding
    kind = preferred_encoding("mlp_ensemble", "nb201")             # "path"
    model = create_predictor("mlp_ensemble", random_state=0).fit(encode("nb201", train, kind), y)
    mean, std = model.predict(encode("nb201", candidates, kind), return_std=True)
"""
from __future__ import annotations

from typing import Any

from nni_effnas.encodings import available_encodings
from nni_effnas.predictors.base import Predictor
from nni_effnas.registry import Registry
from nni_effnas.space import CategoricalSpace

PREDICTORS: Registry[type[Predictor]] = Registry("predictor")


def create_predictor(name: str, **params: Any) -> Predictor:
    """An unfitted instance of the registered predictor ``name``; unknown parameters raise a one-line error."""
    return PREDICTORS.create(name, **params)


def preferred_encoding(predictor: str | Predictor | type[Predictor], space: str | CategoricalSpace) -> str:
    """The first of the predictor's ``encodings`` that ``space`` has."""
    cls = PREDICTORS.get(predictor) if isinstance(predictor, str) else predictor
    available = available_encodings(space)
    for kind in cls.encodings:
        if kind in available:
            return kind
    raise ValueError(f"predictor {getattr(cls, '__name__', cls)} reads {list(cls.encodings)}; "
                     f"this space has only {available}")


# Importing the modules registers the predictors (each module holds one).
from nni_effnas.predictors import gbm, gnn, gp, mlp_ensemble, random_forest  # noqa: E402,F401

PREDICTORS.load_entry_points("nni_effnas.predictors")  # installed packages' predictors (see nni_effnas.registry)

__all__ = ["PREDICTORS", "Predictor", "create_predictor", "preferred_encoding"]
