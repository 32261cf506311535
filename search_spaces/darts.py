"""The DARTS cell search space (Liu, Simonyan and Yang, ICLR 2019), registered as ``"darts"``.

A network of normal and reduction cells; each cell type has one genotype: 4 intermediate nodes, each summing
two of the 7 ops (``none`` excluded) applied to two different earlier nodes. Where things live:

* :mod:`~nni_effnas.search_spaces.darts_genotype`: the ops, the flat categorical labels (``{cell}_{i}_inputs``,
  ``{cell}_{i}_op0``, ``{cell}_{i}_op1``; node 2 has no ``inputs`` label as it always reads nodes 0 and 1),
  DARTS's ``Genotype``, the published :data:`DARTS_V2`, and the text forms;
* :mod:`~nni_effnas.search_spaces.darts_nb301`: NAS-Bench-301 configurations, NASLib's compact form, and the
  inputs of YAHPO's NAS-Bench-301 surrogate;
* :mod:`~nni_effnas.search_spaces.darts_network`: the operations, cells, the discrete networks (an NNI
  ``ModelSpace``) and the supernet, imported only when a network is built (as for NAS-Bench-201), so tuners
  and conversions do not pay for importing torch and ``nni.nas``.

One-shot interface: :meth:`DartsSpace.supernet_space` is DARTS's search network (each of the 14 edges per cell
a ``LayerChoice`` over all 8 ops, labelled ``normal_{j}_{i}`` / ``reduce_{j}_{i}``, shared by all cells of a
type; nodes sum their incoming edges); :meth:`DartsSpace.derive` is the paper's discretisation.

Deviations from the paper: no auxiliary head or drop-path in the built networks (see ``darts_network``); the
order of a node's two inputs is normalised (smaller input first; the node sums them, so nothing changes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from nni_effnas.search_spaces import SPACES
from nni_effnas.search_spaces import darts_nb301 as nb301
from nni_effnas.search_spaces.base import SearchSpace, check_strengths, strongest
from nni_effnas.search_spaces.darts_genotype import (
    CELL_OPS, CELL_TYPES, DARTS_V2, EDGE_LABELS, NODES, OPS, Genotype, categorical_choices, format_genotype,
    genotype_to_sample, parse_genotype, sample_to_genotype,
)
from nni_effnas.space import CategoricalSpace, Sample

if TYPE_CHECKING:
    from nni_effnas.search_spaces.darts_network import DartsModelSpace, DartsSupernet

__all__ = ["CELL_OPS", "DARTS_V2", "DartsSpace", "EDGE_LABELS", "Genotype", "OPS"]


@SPACES.register("darts")
class DartsSpace(SearchSpace):
    """DARTS's cell space: 22 flat categorical labels; text form ``normal=|op~j|op~k|+...;reduce=...``.

    ``model_kwargs`` are the networks': ``channels`` (C), ``layers`` (cells, >= 3), ``num_classes``,
    ``in_channels``, ``affine`` (cell BN). :meth:`build` defaults to a small network (C=16, 8 cells); the
    paper evaluates ``channels=36, layers=20``. :meth:`supernet_space` defaults to the paper's search network
    (C=16, 8 cells, affine-free BN).
    """

    name = "darts"

    def categorical(self) -> CategoricalSpace:
        return CategoricalSpace.from_dict(categorical_choices())

    def model_space(self, **model_kwargs: Any) -> "DartsModelSpace":
        from nni_effnas.search_spaces.darts_network import DartsModelSpace

        return DartsModelSpace(**model_kwargs)

    def build(self, sample: Mapping[str, Any], **model_kwargs: Any) -> "DartsModelSpace":
        """The evaluation network of a sample, with fresh weights (only the chosen ops are built)."""
        from nni.nas.space import model_context

        from nni_effnas.search_spaces.darts_network import DartsModelSpace

        clean = self.categorical().validate(sample)
        with model_context(clean):
            return DartsModelSpace(**model_kwargs)

    # -- text forms and genotypes --------------------------------------------------------------------------------
    def to_string(self, sample: Mapping[str, Any]) -> str:
        return format_genotype(self.categorical().validate(sample))

    def from_string(self, text: str) -> Sample:
        """Parse the own form (:meth:`to_string`) or DARTS's ``Genotype(...)`` repr."""
        return parse_genotype(text)

    def genotype(self, sample: Mapping[str, Any]) -> Genotype:
        """DARTS's ``Genotype`` of a sample (lists, ``range(2, 6)``; its ``repr`` is DARTS's)."""
        return sample_to_genotype(self.categorical().validate(sample))

    def from_genotype(self, genotype: Any) -> Sample:
        """A sample from a ``Genotype`` (ours, DARTS's namedtuple, or any object with its four fields)."""
        return genotype_to_sample(genotype)

    # -- NAS-Bench-301 -------------------------------------------------------------------------------------------
    def to_nb301(self, sample: Mapping[str, Any], *, yahpo_names: bool = False) -> dict[str, str]:
        """The NAS-Bench-301 configuration (``NetworkSelectorDatasetInfo:darts:...``; ``_COLON_`` for YAHPO)."""
        return nb301.to_nb301(self.categorical().validate(sample), yahpo_names=yahpo_names)

    def from_nb301(self, config: Mapping[str, Any]) -> Sample:
        return nb301.from_nb301(config)

    def nb301_surrogate_inputs(self, sample: Mapping[str, Any], epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x_cat int32 [1, 34], x_cont float32 [1, 1])`` for YAHPO's NAS-Bench-301 ONNX surrogate."""
        return nb301.surrogate_inputs(self.categorical().validate(sample), epoch=epoch)

    # -- one-shot interface --------------------------------------------------------------------------------------
    def supernet_space(self, **model_kwargs: Any) -> "DartsSupernet":
        from nni_effnas.search_spaces.darts_network import DartsSupernet

        return DartsSupernet(**model_kwargs)

    def derive(self, weights: Mapping[str, Mapping[str, float]]) -> Sample:
        """DARTS's discretisation of per-edge op strengths ``{"normal_0_2": {"sep_conv_3x3": 0.2, ...}, ...}``.

        Per intermediate node, keep the 2 incoming edges whose strongest non-``none`` op is strongest (ties: the
        smaller source node), and on each the strongest non-``none`` op (ties: the first in ``OPS``). ``none``
        strengths are accepted and ignored, as in the paper. Missing or unknown labels or ops raise ``ValueError``.
        """
        table = check_strengths(weights, {label: OPS for label in EDGE_LABELS})
        sample: Sample = {}
        for cell in CELL_TYPES:
            for i in NODES:
                ranked = []
                for j in range(i):
                    label = f"{cell}_{j}_{i}"
                    op = strongest(table[label], CELL_OPS, label=label)
                    ranked.append((-table[label][op], j, op))
                (_, j, op_j), (_, k, op_k) = sorted(sorted(ranked)[:2], key=lambda r: r[1])
                if i > 2:
                    sample[f"{cell}_{i}_inputs"] = f"{j}_{k}"
                sample[f"{cell}_{i}_op0"], sample[f"{cell}_{i}_op1"] = op_j, op_k
        return self.categorical().validate(sample)

    def edge_groups(self) -> dict[str, str]:
        """Supernet edge label -> the node it feeds: ``"normal_0_2" -> "normal_2"``."""
        return {label: f"{label.split('_')[0]}_{label.rsplit('_', 1)[1]}" for label in EDGE_LABELS}

    def selectable(self, op: str) -> bool:
        """Not ``none``: a genotype has no ``none`` op; whether an edge is used at all is its node's choice of
        inputs (:meth:`kept_inputs`)."""
        return op != "none"

    def kept_inputs(self) -> int:
        """Every intermediate node of a derived cell keeps two of its incoming edges."""
        return 2
