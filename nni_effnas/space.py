"""Categorical search spaces: the view of a search space that strategies see.

A :class:`CategoricalSpace` is an ordered mapping ``label -> tuple of choices``. It converts to and from
NNI's HPO search-space JSON (``{label: {"_type": "choice", "_value": [...]}}``), which is what NNI tuners
(ours and NNI's built-in TPE, Random, Evolution) receive, and it samples with an explicit generator.
A *sample* is a plain ``dict`` ``{label: choice}``: JSON-serialisable, the same object NNI hands to a trial.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

Sample = dict[str, Any]


@dataclass(frozen=True)
class CategoricalSpace:
    """An ordered product of categorical choices."""

    choices: tuple[tuple[str, tuple[Any, ...]], ...]

    @classmethod
    def from_dict(cls, choices: Mapping[str, Any]) -> "CategoricalSpace":
        if not isinstance(choices, Mapping):
            raise ValueError(f"a search space must be a dict of label -> list of choices, got {type(choices).__name__}")
        items = []
        for label, values in choices.items():
            if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
                raise ValueError(f"search-space label {label!r} has {values!r}; expected a list of choices")
            values = tuple(values)
            if not values:
                raise ValueError(f"search-space label {label!r} has no choices")
            if len(set(map(_key, values))) != len(values):
                raise ValueError(f"search-space label {label!r} has duplicate choices: {list(values)}")
            items.append((str(label), values))
        if not items:
            raise ValueError("a search space needs at least one label")
        return cls(tuple(items))

    @classmethod
    def from_nni(cls, search_space: Mapping[str, Any]) -> "CategoricalSpace":
        """Read NNI's search-space JSON; only ``choice`` parameters are supported."""
        if not isinstance(search_space, Mapping):
            raise ValueError(f"an NNI search space must be a dict of parameter -> {_NNI_CHOICE}, "
                             f"got {type(search_space).__name__}")
        choices = {}
        for label, spec in search_space.items():
            if not isinstance(spec, Mapping):
                raise ValueError(f"search-space parameter {label!r} is {spec!r}; expected {_NNI_CHOICE}")
            missing = [key for key in ("_type", "_value") if key not in spec]
            if missing:
                raise ValueError(f"search-space parameter {label!r} has no {' or '.join(missing)}; "
                                 f"expected {_NNI_CHOICE}")
            kind = spec["_type"]
            if kind != "choice":
                raise ValueError(
                    f"search-space parameter {label!r} has _type {kind!r}; expected 'choice' (categorical spaces only)"
                )
            values = spec["_value"]
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"search-space parameter {label!r} has _value {values!r}; "
                                 "expected a non-empty list of choices")
            if any(isinstance(v, Mapping) for v in values):
                raise ValueError(f"search-space parameter {label!r} uses nested choices, which are not supported")
            choices[label] = values
        return cls.from_dict(choices)

    def to_nni(self) -> dict[str, dict[str, Any]]:
        return {label: {"_type": "choice", "_value": list(values)} for label, values in self.choices}

    def as_dict(self) -> dict[str, tuple[Any, ...]]:
        return dict(self.choices)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.choices)

    @property
    def size(self) -> int:
        return int(np.prod([len(v) for _, v in self.choices], dtype=object))

    def sample(self, rng: np.random.Generator) -> Sample:
        return {label: values[int(rng.integers(len(values)))] for label, values in self.choices}

    def validate(self, sample: Mapping[str, Any]) -> Sample:
        """Return ``sample`` as a clean dict in label order, or raise a one-line ``ValueError``."""
        if not isinstance(sample, Mapping):
            raise ValueError(f"a sample must be a dict of label -> choice, got {type(sample).__name__}")
        extra = set(sample) - set(self.labels)
        if extra:
            raise ValueError(f"sample has unknown labels {sorted(extra)}; expected {list(self.labels)}")
        clean = {}
        for label, values in self.choices:
            if label not in sample:
                raise ValueError(f"sample is missing label {label!r}")
            value = sample[label]
            if value not in values:
                raise ValueError(f"sample value {value!r} for {label!r} is not one of {list(values)}")
            clean[label] = value
        return clean

    def encode(self, sample: Mapping[str, Any]) -> tuple[int, ...]:
        """Choice indices, in label order; a sample outside the space raises :meth:`validate`'s ``ValueError``."""
        try:
            return tuple(values.index(sample[label]) for label, values in self.choices)
        except (KeyError, ValueError, TypeError):
            self.validate(sample)  # raises the one-line error naming the bad label or value
            raise

    def decode(self, indices: tuple[int, ...]) -> Sample:
        """The sample of choice indices in label order (the inverse of :meth:`encode`)."""
        if len(indices) != len(self.choices):
            raise ValueError(f"decode needs {len(self.choices)} choice indices (one per label {list(self.labels)}), "
                             f"got {len(indices)}: {tuple(indices)}")
        try:
            if min(indices) >= 0:  # a negative index would silently pick from the end
                return {label: values[i] for (label, values), i in zip(self.choices, indices)}
        except (IndexError, TypeError):
            pass
        for (label, values), i in zip(self.choices, indices):
            if not isinstance(i, (int, np.integer)) or not 0 <= i < len(values):
                raise ValueError(f"choice index {i!r} for {label!r} is out of range; "
                                 f"expected an integer in 0..{len(values) - 1}")
        raise ValueError(f"bad choice indices {tuple(indices)}")  # unreachable for int-like indices

    def key(self, sample: Mapping[str, Any]) -> str:
        """A canonical hashable key of a sample (JSON of its values in label order)."""
        return json.dumps([sample[label] for label in self.labels])


_NNI_CHOICE = "{'_type': 'choice', '_value': [choices...]}"


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
