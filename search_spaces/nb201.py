"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020), registered as ``"nb201"``.

6 edges x 5 operations (``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``); a sample's text
form is the official arch string and every cell has its benchmark index. The network itself (the NNI
``ModelSpace``: ops, cell, reduction blocks, skeleton; and why a few recorded parameter counts differ by one
convolution) is in :mod:`nni_effnas.search_spaces.nb201_network`, imported only when a model is built, so
benchmark lookups and tuners do not pay for importing torch and ``nni.nas``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from nni_effnas.checks import is_int
from nni_effnas.nb201 import EDGE_LABELS, OPS, arch_to_sample, load_table, sample_to_arch
from nni_effnas.search_spaces import SPACES
from nni_effnas.search_spaces.base import SearchSpace
from nni_effnas.space import CategoricalSpace, Sample

if TYPE_CHECKING:
    from nni_effnas.search_spaces.nb201_network import NB201ModelSpace


@SPACES.register("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201: 6 edges x 5 ops; text form is the official arch string; cells have benchmark indices.

    ``model_kwargs`` are :class:`NB201ModelSpace`'s: ``channels``, ``num_cells``, ``num_classes``,
    ``in_channels``.
    """

    name = "nb201"

    def categorical(self) -> CategoricalSpace:
        return CategoricalSpace.from_dict({label: OPS for label in EDGE_LABELS})

    def model_space(self, **model_kwargs: Any) -> "NB201ModelSpace":
        from nni_effnas.search_spaces.nb201_network import NB201ModelSpace

        return NB201ModelSpace(**model_kwargs)

    def build(self, sample: Mapping[str, Any], **model_kwargs: Any) -> "NB201ModelSpace":
        """A fixed network with fresh weights (the ``model_context`` route; see :class:`NB201ModelSpace`)."""
        from nni.nas.space import model_context

        from nni_effnas.search_spaces.nb201_network import NB201ModelSpace

        clean = self.categorical().validate(sample)
        with model_context(clean):
            return NB201ModelSpace(**model_kwargs)

    def supernet_space(self, *, op_channels_divisor: int = 1, **model_kwargs: Any) -> "NB201ModelSpace":
        """The model space, optionally with candidate ops on ``1/op_channels_divisor`` of the channels (PC-DARTS)."""
        from nni_effnas.search_spaces.nb201_network import NB201ModelSpace

        return NB201ModelSpace(op_channels_divisor=op_channels_divisor, **model_kwargs)

    def edge_groups(self) -> dict[str, str]:
        """Edge label -> the node it feeds: ``"edge_0_2" -> "2"`` (PC-DARTS normalises edges per node)."""
        return {label: label.rsplit("_", 1)[1] for label in EDGE_LABELS}

    def to_string(self, sample: Mapping[str, Any]) -> str:
        return sample_to_arch(self.categorical().validate(sample))

    def from_string(self, text: str) -> Sample:
        return arch_to_sample(text)

    def to_index(self, sample: Mapping[str, Any]) -> int:
        """The official benchmark index (0..15624) of a sample."""
        return load_table().index(self.categorical().validate(sample))

    def from_index(self, index: int) -> Sample:
        """The sample of an official benchmark index."""
        if not is_int(index):
            raise TypeError(f"a NAS-Bench-201 index must be an int, got {index!r}")
        return load_table().sample(int(index))
