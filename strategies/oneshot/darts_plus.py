"""DARTS+, registered as ``"darts_plus"``: DARTS with early stopping against collapse.

Paper: H. Liang, S. Zhang, J. Sun, X. He, W. Huang, K. Zhuang and Z. Li, "DARTS+: Improved Differentiable
Architecture Search with Early Stopping", arXiv:1909.06035, 2019.

Implemented: first-order DARTS, plus a :class:`~nni_effnas.oneshot.monitor.CollapseMonitor` callback that
stops the search after the first epoch at which either of the paper's criteria holds:

1. the derived normal cell has ``max_skips`` (paper: 2) or more ``skip_connect`` ops
   (:class:`~nni_effnas.oneshot.monitor.SkipCountStop`; the DARTS space's ``normal_`` labels, all labels on
   spaces without a normal cell such as NAS-Bench-201, whose single cell type is counted whole);
2. the ranking of the learnable (parameterised) ops' strengths has not changed for ``stable_epochs``
   (paper: 10) epochs (:class:`~nni_effnas.oneshot.monitor.StableArchStop`).

``criterion`` picks ``"any"`` (both, the default), ``"skip"`` or ``"stable"``. The architecture returned is the
one derived when the search stops. The monitor skips the Hessian eigenvalue (DARTS+ does not use it).

Deviations: the criteria are checked once per epoch at its end (the paper also checks per epoch); the paper
additionally gives DARTS+ a maximal number of epochs per dataset, which is the run's ``epochs`` here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nni_effnas.checks import check_int
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

if TYPE_CHECKING:
    import pytorch_lightning as pl

    from nni_effnas.oneshot.supernet import Supernet
    from nni_effnas.search_spaces.base import SearchSpace

__all__ = ["DARTSPlus"]

_CRITERIA = ("any", "skip", "stable")


@ONESHOT.register("darts_plus")
class DARTSPlus(OneShotMethod):
    """DARTS that stops at ``max_skips`` skip connections in the normal cell or a stable op ranking.

    Args:
        seed, init_scale: as :class:`OneShotMethod` (``seed`` also seeds the monitor).
        max_skips: criterion 1's threshold (paper: 2).
        stable_epochs: criterion 2's window (paper: 10).
        criterion: ``"any"``, ``"skip"`` or ``"stable"``.
    """

    name = "darts_plus"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, max_skips: int = 2, stable_epochs: int = 10,
                 criterion: str = "any") -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        for key, value in (("max_skips", max_skips), ("stable_epochs", stable_epochs)):
            check_int(key, value)
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
        self.max_skips, self.stable_epochs, self.criterion = max_skips, stable_epochs, criterion
        self.label_prefix = ""

    def setup(self, supernet: "Supernet", *, space: "SearchSpace") -> None:
        super().setup(supernet, space=space)
        self.label_prefix = "normal_" if any(label.startswith("normal_") for label in supernet.labels) else ""

    def callbacks(self) -> list["pl.Callback"]:
        from nni_effnas.oneshot.monitor import AnyOf, CollapseMonitor, SkipCountStop, StableArchStop

        skip = SkipCountStop(max_skips=self.max_skips, label_prefix=self.label_prefix)
        stable = StableArchStop(epochs=self.stable_epochs)
        rule = {"any": AnyOf(skip, stable), "skip": skip, "stable": stable}[self.criterion]
        return [CollapseMonitor(hessian=False, seed=self.seed, early_stop=rule)]

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "max_skips": self.max_skips, "stable_epochs": self.stable_epochs,
                "criterion": self.criterion}
