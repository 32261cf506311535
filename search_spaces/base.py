"""What every search space provides: a categorical view for strategies, an NNI ``ModelSpace``, a builder
for a fixed model from a sample, and conversions between a sample and a compact string."""
from __future__ import annotations

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
