"""What a differentiable (one-shot) search method decides, as a small set of hooks.

The training loop (:class:`nni_effnas.oneshot.search.OneShotSearch`) is the same for every method: alternate an
architecture step on a validation batch and a weight step on a training batch. A method only says

* which supernet it needs beyond the user's ``model_kwargs`` (:meth:`OneShotMethod.supernet_kwargs`: PC-DARTS's
  narrower ops),
* how architecture logits become mixing weights (:meth:`OneShotMethod.edge_weights`),
* how one edge mixes its candidates with them (:meth:`OneShotMethod.mix`; what one candidate contributes:
  :meth:`OneShotMethod.candidate_output`, P-DARTS's skip dropout),
* what it adds to the architecture loss (:meth:`OneShotMethod.arch_regularizer`),
* how strong each op is when the final cell is derived (:meth:`OneShotMethod.strengths`), and how the cell is
  derived from those strengths (:meth:`OneShotMethod.derive`: the space's own rule unless the paper has one),
* what changes from epoch to epoch (:meth:`OneShotMethod.on_epoch_start`: temperatures, decays, stages),
* what it adds to the training loop as Lightning callbacks (:meth:`OneShotMethod.callbacks`: early stops,
  DARTS-PT's selection after training) and to the search result (:meth:`OneShotMethod.result_extra`),
* whether the architecture gradient is first order or unrolled (``second_order``),
* and, rarely, what a whole search is (:meth:`OneShotMethod.search`: one supernet training by default; P-DARTS's
  progressive stages are several).

The base class is DARTS's continuous relaxation (softmax-weighted sum, first order), so a variant overrides
only what its paper changes. Methods keep their own schedule state in ``state_dict`` so a search resumes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from nni_effnas.checks import check_number

if TYPE_CHECKING:
    import pytorch_lightning as pl

    from nni_effnas.oneshot.runner import OneShotResult
    from nni_effnas.oneshot.supernet import MixedOp, Supernet
    from nni_effnas.search_spaces.base import SearchSpace
    from nni_effnas.space import Sample

__all__ = ["OneShotMethod", "is_zero_op", "zero_output"]


class OneShotMethod:
    """DARTS's relaxation; subclasses are the registered methods (``strategies.oneshot.ONESHOT``).

    Args:
        seed: seeds the method's own randomness (logit initialisation, Gumbel noise, ...).
        init_scale: logits start as ``init_scale * N(0, 1)`` (DARTS: 1e-3).
    """

    name = "darts"
    second_order = False

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self.init_scale = check_number("init_scale", init_scale)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.max_epochs = 1

    # --- the whole search ----------------------------------------------------------------------------------
    @classmethod
    def search(cls, **run_kwargs: Any) -> "OneShotResult":
        """One whole search with this method; ``run_kwargs`` are :func:`~nni_effnas.oneshot.run_oneshot`'s
        (``method_args``, ``checkpoint_dir``, ``resume``, ...). Default: one ``run_oneshot``. Every entry
        point (the bench, ``effnas-trial``, the NNI strategy) searches through
        :func:`~nni_effnas.oneshot.search_oneshot`, which calls this."""
        from nni_effnas.oneshot.runner import run_oneshot

        return run_oneshot(method=cls.name, **run_kwargs)

    # --- set-up -------------------------------------------------------------------------------------------
    def supernet_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the method adds to ``space.supernet_space(**model_kwargs)`` (they win over the
        user's), e.g. PC-DARTS's ``op_channels_divisor``. Default: none."""
        return {}

    def setup(self, supernet: "Supernet", *, space: "SearchSpace") -> None:
        """Initialise the logits (and any extra architecture parameters the method needs; ``space`` gives
        e.g. ``space.edge_groups()``)."""
        with torch.no_grad():
            for alpha in supernet.arch_parameters():
                alpha.copy_(self.init_scale * torch.randn(alpha.shape, generator=self.generator))

    def extra_arch_parameters(self) -> list[torch.nn.Parameter]:
        """Architecture parameters the method owns besides ``alpha`` (PC-DARTS's edge betas, ...)."""
        return []

    # --- the relaxation -----------------------------------------------------------------------------------
    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        """Per-label mixing weights for one forward pass (DARTS: softmax)."""
        return {label: torch.softmax(a, dim=-1) for label, a in alpha.items()}

    def mix(self, edge: "MixedOp", x: torch.Tensor, weights: torch.Tensor, *,
            keep: torch.Tensor | None = None) -> torch.Tensor:
        """The edge's output: the weighted sum of its candidates' :meth:`candidate_output`. Left out: candidates
        that ``keep`` (a boolean mask, e.g. P-DARTS's dropped ops) marks False; and, with the same value and
        gradients, ops with an exactly-zero weight that needs no gradient and ``none`` ops (``always_zero``),
        whose term ``w * 0`` adds nothing to the output and gives ``w`` a zero gradient."""
        out = None
        for i, (w, op) in enumerate(zip(weights, edge.candidates)):
            if (keep is not None and not bool(keep[i])) or is_zero_op(op) \
                    or (not w.requires_grad and float(w) == 0.0):
                continue
            term = w * self.candidate_output(edge, i, x)
            out = term if out is None else out + term
        return out if out is not None else zero_output(edge, x)

    def candidate_output(self, edge: "MixedOp", index: int, x: torch.Tensor) -> torch.Tensor:
        """What candidate ``index`` of ``edge`` contributes before weighting (P-DARTS: skip dropout)."""
        return edge.candidates[index](x)

    def arch_regularizer(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """A term added to the validation loss on the architecture step (None: nothing)."""
        return None

    # --- deriving the result ------------------------------------------------------------------------------
    def strengths(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-label op strengths the final cell is derived from (DARTS: softmax of the logits)."""
        return {label: torch.softmax(a.detach(), dim=-1) for label, a in alpha.items()}

    def derive(self, space: "SearchSpace", strengths: dict[str, dict[str, float]]) -> "Sample":
        """The final cell from per-label op strengths ``{label: {op: float}}`` (:meth:`strengths` by op name).
        Default: the space's own rule, ``space.derive(strengths)`` (DARTS's argmax per NAS-Bench-201 edge,
        its top-2 incoming edges per node in the DARTS space)."""
        return space.derive(strengths)

    # --- schedules ----------------------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int, max_epochs: int) -> None:
        """Called before every training epoch (0-based)."""
        self.epoch, self.max_epochs = epoch, max(1, max_epochs)

    @property
    def progress(self) -> float:
        """Fraction of the search done at the start of this epoch, in [0, 1)."""
        return self.epoch / self.max_epochs

    def epoch_metrics(self) -> dict[str, Any]:
        """Method-specific numbers reported with every epoch's intermediate result (P-DARTS: its stage)."""
        return {}

    def result_extra(self) -> dict[str, Any]:
        """What the method adds to the search result's ``extra`` (DARTS-PT: its per-edge selection)."""
        return {}

    def callbacks(self) -> list["pl.Callback"]:
        """Lightning callbacks the method needs (DARTS+'s early stop, ...); the runner adds them."""
        return []

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "max_epochs": self.max_epochs, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.max_epochs = int(state["epoch"]), int(state["max_epochs"])
        self.generator.set_state(state["generator"])

    def hparams(self) -> dict[str, Any]:
        """The constructor arguments, for logs and reports."""
        return {"seed": self.seed, "init_scale": self.init_scale}


def is_zero_op(op: torch.nn.Module) -> bool:
    """Whether ``op`` is a ``none`` op (its class sets ``always_zero = True``): its output is zeros, so a mixed
    edge leaves its term out (the sum and every gradient are the same; the step is cheaper)."""
    return bool(getattr(op, "always_zero", False))


def zero_output(edge: "MixedOp", x: torch.Tensor) -> torch.Tensor:
    """Zeros of the edge's output shape, for an edge whose every term was left out: its ``none`` op's output
    (subsampled on a stride-2 edge), or zeros of the input's shape if it has none."""
    zero = next((op for op in edge.candidates if is_zero_op(op)), None)
    return zero(x) if zero is not None else x.mul(0.0)
