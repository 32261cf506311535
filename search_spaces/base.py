"""What every search space provides: a categorical view for strategies, an NNI ``ModelSpace``, a builder
for a fixed model from a sample, and conversions between a sample and a compact string; and, for one-shot
(differentiable) search, a supernet, the rule that derives a sample from op strengths, and the edge groups."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Mapping

from nni_effnas.space import CategoricalSpace, Sample

if TYPE_CHECKING:
    import torch.nn as nn


class SearchSpace(ABC):
    """A named search space. Subclasses are registered in ``nni_effnas.search_spaces.SPACES``.

    ``model_kwargs`` (channels, cells, classes, input channels, ...) are passed to the NNI ``ModelSpace``.
    """

    name: str = ""

    @abstractmethod
    def categorical(self) -> CategoricalSpace:
        """The choices, as strategies and NNI tuners see them."""

    @abstractmethod
    def model_space(self, **model_kwargs: Any) -> "nn.Module":
        """The NNI ``ModelSpace`` (a mutable model) for these choices."""

    def build(self, sample: Mapping[str, Any], **model_kwargs: Any) -> "nn.Module":
        """A fixed ``torch.nn.Module`` for one sample (``ModelSpace.freeze``)."""
        clean = self.categorical().validate(sample)
        return self.model_space(**model_kwargs).freeze(clean)

    @abstractmethod
    def to_string(self, sample: Mapping[str, Any]) -> str:
        """A compact, round-tripping text form of a sample."""

    @abstractmethod
    def from_string(self, text: str) -> Sample:
        """Parse the text form; raise ``ValueError`` naming the bad value."""

    # -- one-shot interface (defaults: the model space's LayerChoice labels are the categorical labels) --------
    def supernet_space(self, **model_kwargs: Any) -> "nn.Module":
        """The network one-shot search relaxes: every searchable edge an NNI ``LayerChoice`` whose candidates are
        keyed by op name, edges sharing a decision sharing a label. Default: :meth:`model_space`."""
        return self.model_space(**model_kwargs)

    def derive(self, weights: Mapping[str, Mapping[str, float]]) -> Sample:
        """A sample of :meth:`categorical` from per-label op strengths ``{label: {op: float}}`` of the supernet.

        Default: per label of :meth:`categorical`, the strongest op (ties: the first in choice order). Ops a
        label's mapping leaves out are not candidates. A missing or unknown label, an unknown op, or a
        non-finite strength raises a one-line ``ValueError`` naming it.
        """
        choices = self.categorical().as_dict()
        table = check_strengths(weights, choices)
        return {label: strongest(table[label], choices[label], label=label) for label in choices}

    def edge_groups(self) -> dict[str, str]:
        """Supernet label -> the group (node) it feeds, for per-node edge normalisation (PC-DARTS).
        Default: every label its own group."""
        return {label: label for label in self.categorical().labels}

    def selectable(self, op: str) -> bool:
        """Whether a derived cell can hold ``op`` on an edge: methods that pick each edge's op by perturbation
        (DARTS-PT, Zero-Cost-PT) choose among these. Default: every op."""
        return True

    def kept_inputs(self) -> int | None:
        """How many of a node's incoming edges (the labels :meth:`edge_groups` maps to it) a derived cell keeps,
        for methods that select them (DARTS-PT, Zero-Cost-PT). Default: None, every edge is kept."""
        return None


def check_strengths(weights: Any, choices: Mapping[str, Any]) -> dict[str, dict[Any, float]]:
    """``weights`` as ``{label: {op: float}}`` for exactly the labels of ``choices`` (``label -> its ops``)."""
    if not isinstance(weights, Mapping):
        raise TypeError(f"op strengths must be a dict of label -> {{op: float}}, got {type(weights).__name__}")
    missing = [label for label in choices if label not in weights]
    if missing:
        raise ValueError(f"op strengths are missing label {missing[0]!r}")
    extra = sorted(str(label) for label in weights if label not in choices)
    if extra:
        raise ValueError(f"op strengths have unknown labels {extra}; expected {list(choices)}")
    table: dict[str, dict[Any, float]] = {}
    for label, ops in choices.items():
        given = weights[label]
        if not isinstance(given, Mapping):
            raise TypeError(f"op strengths of {label!r} must be a dict of op -> float, got {type(given).__name__}")
        row = {}
        for op, value in given.items():
            if op not in ops:
                raise ValueError(f"unknown op {op!r} in the strengths of {label!r}; expected one of {list(ops)}")
            try:
                strength = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"op strength of {op!r} on {label!r} must be a number, got {value!r}") from None
            if not math.isfinite(strength):
                raise ValueError(f"op strength of {op!r} on {label!r} is {strength}; expected a finite number")
            row[op] = strength
        table[label] = row
    return table


def strongest(row: Mapping[Any, float], order: Any, *, label: str) -> Any:
    """The op of ``row`` with the largest strength; ties go to the first in ``order``."""
    best, best_value = None, -math.inf
    for op in order:
        if op in row and (best is None or row[op] > best_value):
            best, best_value = op, row[op]
    if best is None:
        raise ValueError(f"op strengths of {label!r} name none of its candidates {list(order)}")
    return best


def count_parameters(model: "nn.Module") -> int:
    """All parameters (weights, BN affine, classifier): NAS-Bench-201's ``params`` convention and DARTS's count
    (no auxiliary head in our networks)."""
    return sum(p.numel() for p in model.parameters())
