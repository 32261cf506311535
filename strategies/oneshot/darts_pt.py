"""DARTS-PT, registered as ``"darts_pt"``: DARTS with perturbation-based architecture selection.

Paper: R. Wang, M. Cheng, X. Chen, X. Tang and C.-J. Hsieh, "Rethinking Architecture Selection in
Differentiable NAS", ICLR 2021. Its finding: the size of an op's architecture weight does not say how much the
supernet relies on the op (skip connections get large weights without being what the supernet needs, which is
DARTS's collapse), so it selects each edge's op by what removing it costs the trained supernet instead.

Implemented (Algorithm 1 of the paper, with tuning): the supernet is trained as DARTS trains it (first order,
:class:`~nni_effnas.strategies.oneshot.base.OneShotMethod`'s relaxation). Then, edge by edge in a random order
(from the method's generator):

1. for every op of the edge, the supernet's accuracy on the architecture half of the training data with that op
   removed (its mixing weight set to 0, the other weights unchanged, as the paper's projection does);
2. the edge keeps the op whose removal costs the most accuracy (ties: the one whose removal raises the loss
   most; we add this tie-break: on a small validation set accuracies tie often); from then on the edge's
   weights are one-hot on that op;
3. the supernet's weights are tuned for ``tune_steps`` SGD steps on the weight half of the training data (the
   paper tunes for a few epochs between decisions), then the next edge is decided.

In a space whose nodes keep only some of their incoming edges (the DARTS space: two), the topology is selected
the same way once every edge has its op (:func:`select_inputs`, the paper's section 4.2): node by node in a
random order, the supernet's accuracy with each incoming edge removed; the node keeps the two edges whose
removal costs the most, the others are zeroed from then on, with tuning between nodes. There an edge's op is
chosen among the ops a genotype can hold (``SearchSpace.selectable``: not ``none``): whether an edge is used at
all is the topology step's decision.

The derived cell is the selected ops (and inputs). ``warmup_epochs`` equal to the run's ``epochs`` (in
``search_args``) trains the supernet with fixed, uniform architecture weights: the paper's "DARTS-PT (fix
alpha)".

Deviations: a label is an edge here; on NAS-Bench-201 a label is one edge position shared by every cell of the
supernet, so removing an op removes it from all cells at once (the paper's NAS-Bench-201 supernet also shares
them; in the DARTS space a label is an edge shared by all normal or all reduction cells). Tuning uses a fresh
SGD optimiser at the floor of the run's weight learning rate (``w_lr_min``) with its momentum, weight decay and
gradient clipping; it does not update the architecture weights. Accuracy is measured with the supernet in
evaluation mode (BatchNorm running statistics), over at most ``eval_batches`` batches.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import torch

from nni_effnas.checks import check_int
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

if TYPE_CHECKING:
    import pytorch_lightning as pl

    from nni_effnas.oneshot.search import OneShotSearch
    from nni_effnas.oneshot.supernet import Supernet
    from nni_effnas.search_spaces.base import SearchSpace

__all__ = ["DARTSPT", "Projection", "cycle_batches", "select_by_perturbation", "select_inputs", "selectable"]


class Projection(OneShotMethod):
    """DARTS's relaxation plus what a selection by perturbation needs: an op removed from the forward pass
    (``removed``), edges fixed to their selected op (``selected``, one-hot from then on), and, in spaces whose
    nodes keep only some inputs, a whole edge removed (``removed_edge``) and the edges a node dropped
    (``dropped``, zero from then on). The base of DARTS-PT and of
    :class:`~nni_effnas.strategies.oneshot.zc_pt.ZeroCostPT`, which differ in how they score a removal and when
    they select."""

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        self.selected: dict[str, int] = {}  # label -> index of the op the edge keeps
        self.removed: tuple[str, int] | None = None  # the op left out of the forward pass being measured
        self.selection: list[dict[str, Any]] = []  # per decision: label, score without each op, choice
        self.dropped: set[str] = set()  # edges a node does not keep
        self.removed_edge: str | None = None  # the edge left out of the forward pass being measured
        self.inputs: list[dict[str, Any]] = []  # per node decision: node, score without each edge, kept edges

    def setup(self, supernet: "Supernet", *, space: "SearchSpace") -> None:
        super().setup(supernet, space=space)
        self.selected, self.removed, self.selection = {}, None, []
        self.dropped, self.removed_edge, self.inputs = set(), None, []

    @contextlib.contextmanager
    def without(self, label: str, index: int | None = None) -> Iterator[None]:
        """Forward passes inside leave out op ``index`` of edge ``label``, or (``index`` None) the whole edge."""
        if index is None:
            self.removed_edge = label
        else:
            self.removed = (label, index)
        try:
            yield
        finally:
            self.removed, self.removed_edge = None, None

    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        weights = super().edge_weights(alpha, training=training)
        for label, index in self.selected.items():
            weights[label] = torch.nn.functional.one_hot(torch.tensor(index), len(alpha[label])).to(alpha[label])
        if self.removed is not None:
            label, index = self.removed
            keep = torch.ones_like(weights[label])
            keep[index] = 0.0
            weights[label] = weights[label] * keep
        for label in self.dropped | ({self.removed_edge} if self.removed_edge else set()):
            weights[label] = torch.zeros_like(weights[label]).detach()
        return weights

    def strengths(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Before the selection, DARTS's softmax; after it, the selected op's softmax weight on each edge and 0
        elsewhere, and 0 on every op of a dropped edge (so the space's derivation picks the selected ops, and in
        the DARTS space a node's kept edges)."""
        soft = super().strengths(alpha)
        if not self.selected:
            return soft
        out = {}
        for label, s in soft.items():
            index = self.selected.get(label)
            if label in self.dropped:
                out[label] = torch.zeros_like(s)
            else:
                out[label] = s if index is None else torch.zeros_like(s).index_fill(0, torch.tensor(index), s[index])
        return out

    def result_extra(self) -> dict[str, Any]:
        return {"selection": list(self.selection), **({"inputs": list(self.inputs)} if self.inputs else {})}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "selected": dict(self.selected), "selection": list(self.selection),
                "dropped": sorted(self.dropped), "inputs": list(self.inputs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.selected = {str(k): int(v) for k, v in state.get("selected", {}).items()}
        self.selection = list(state.get("selection", ()))
        self.dropped = {str(label) for label in state.get("dropped", ())}
        self.inputs = list(state.get("inputs", ()))


@ONESHOT.register("darts_pt")
class DARTSPT(Projection):
    """DARTS training, then each edge's op chosen by how much removing it costs the supernet.

    Args:
        seed, init_scale: as :class:`OneShotMethod` (``seed`` also orders the edges).
        tune_steps: weight steps that tune the supernet after each edge decision (0: none).
        eval_batches: at most this many architecture batches measure each perturbation (None: all).
    """

    name = "darts_pt"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, tune_steps: int = 8,
                 eval_batches: int | None = None) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        check_int("tune_steps", tune_steps, 0)
        if eval_batches is not None:
            check_int("eval_batches", eval_batches, 1)
        self.tune_steps, self.eval_batches = tune_steps, eval_batches

    def callbacks(self) -> list["pl.Callback"]:
        import pytorch_lightning as pl

        class PerturbationSelection(pl.Callback):
            """Runs :func:`select_by_perturbation` when training ends."""

            def on_train_end(self, trainer: "pl.Trainer", pl_module: "OneShotSearch") -> None:
                select_by_perturbation(pl_module, trainer.train_dataloader)

        return [PerturbationSelection()]

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "tune_steps": self.tune_steps, "eval_batches": self.eval_batches}


def select_by_perturbation(pl_module: "OneShotSearch", loaders: Any) -> None:
    """DARTS-PT's selection on a trained :class:`~nni_effnas.oneshot.search.OneShotSearch` whose method is
    :class:`DARTSPT` (see the module docstring); ``loaders`` is the search's ``{"train": ..., "val": ...}``.
    The method keeps the result (``selected``, ``selection``); a method that has selected already is left alone
    (a resumed search)."""
    method = pl_module.method
    if not isinstance(method, DARTSPT) or method.selected:
        return
    if not isinstance(loaders, dict) or not {"train", "val"} <= set(loaders):
        raise ValueError("DARTS-PT's selection needs the search's {'train': ..., 'val': ...} loaders, got "
                         f"{type(loaders).__name__}")
    batches = list(itertools.islice(loaders["val"], method.eval_batches))  # the same images for every op
    labels = pl_module.supernet.labels
    tuner = _Tuner(pl_module, loaders["train"])
    for position in torch.randperm(len(labels), generator=method.generator).tolist():
        label = labels[position]
        names = pl_module.supernet.op_names[label]
        scores = {}  # (accuracy, loss) of the supernet without each op a derived cell can hold
        for index in selectable(pl_module.space, names):
            with method.without(label, index):
                scores[index] = _evaluate(pl_module, batches)
        choice = min(scores, key=lambda i: (scores[i][0], -scores[i][1], i))
        method.selected[label] = choice
        method.selection.append({"label": label, "accuracy_without": {names[i]: a for i, (a, _) in scores.items()},
                                 "loss_without": {names[i]: loss for i, (_, loss) in scores.items()},
                                 "selected": names[choice]})
        if len(method.selected) < len(labels) or pl_module.space.kept_inputs() is not None:
            tuner.tune(method.tune_steps)

    def measure() -> tuple[tuple[float, float], dict[str, float]]:
        accuracy, loss = _evaluate(pl_module, batches)
        return (accuracy, -loss), {"accuracy": accuracy, "loss": loss}

    select_inputs(method, pl_module.space, labels, measure, after=lambda: tuner.tune(method.tune_steps))


def selectable(space: "SearchSpace", names: Sequence[str]) -> list[int]:
    """Indices of the ops in ``names`` that a derived cell of ``space`` can hold (DARTS: all but ``none``)."""
    return [index for index, name in enumerate(names) if space.selectable(name)]


def select_inputs(method: Projection, space: "SearchSpace", labels: Sequence[str],
                  measure: Callable[[], tuple[Any, Any]], after: Callable[[], None] | None = None) -> None:
    """The topology half of a selection by perturbation, after every edge has its op: in a space whose nodes
    keep ``space.kept_inputs()`` of their incoming edges (DARTS: 2), node by node in a random order (from the
    method's generator), measure the supernet with each incoming edge removed and keep the edges whose removal
    ranks lowest; the others are dropped. ``measure()`` returns ``(key, record)``: a sort key (lower: the
    removal hurts more; ties: the earlier edge) and what to record. ``after()`` runs between nodes (DARTS-PT's
    tuning). Nothing to do in a space that keeps every edge (NAS-Bench-201). Decisions go to
    ``method.inputs``."""
    keep = space.kept_inputs()
    if keep is None:
        return
    groups, nodes = space.edge_groups(), {}
    for label in labels:
        nodes.setdefault(groups[label], []).append(label)
    choices = [node for node, edges in nodes.items() if len(edges) > keep]
    order = torch.randperm(len(choices), generator=method.generator).tolist()
    for n, position in enumerate(order):
        edges = nodes[choices[position]]
        measured = []
        for edge in edges:
            with method.without(edge):
                measured.append(measure())
        kept = sorted(range(len(edges)), key=lambda i: (measured[i][0], i))[:keep]
        method.dropped.update(edge for i, edge in enumerate(edges) if i not in kept)
        method.inputs.append({"node": choices[position], "without": {e: r for e, (_, r) in zip(edges, measured)},
                              "kept": [edges[i] for i in sorted(kept)]})
        if after is not None and n < len(order) - 1:
            after()


@torch.no_grad()
def _evaluate(pl_module: "OneShotSearch", batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float]:
    """The supernet's accuracy (%) and mean cross-entropy on ``batches``, in evaluation mode."""
    was_training = pl_module.training
    pl_module.eval()
    correct, loss, total = 0, 0.0, 0
    try:
        for x, y in batches:
            x, y = x.to(pl_module.device), y.to(pl_module.device)
            logits = pl_module.supernet(x, method=pl_module.method, training=False)
            correct += int((logits.argmax(1) == y).sum())
            loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            total += len(y)
    finally:
        pl_module.train(was_training)
    return 100.0 * correct / max(total, 1), loss / max(total, 1)


class _Tuner:
    """Weight-only SGD steps on the supernet between DARTS-PT's decisions."""

    def __init__(self, pl_module: "OneShotSearch", loader: Any) -> None:
        self.module = pl_module
        self.optimizer = torch.optim.SGD(pl_module.supernet.weight_parameters(), lr=pl_module.w_lr_min,
                                         momentum=pl_module.w_momentum, weight_decay=pl_module.w_weight_decay)
        self.batches = cycle_batches(loader)

    def tune(self, steps: int) -> None:
        module = self.module
        module.train()
        for _ in range(steps):
            x, y = next(self.batches)
            with torch.enable_grad():
                module.weight_step(self.optimizer, x.to(module.device), y.to(module.device))


def cycle_batches(loader: Iterable[Any]) -> Iterator[Any]:
    """``loader``'s batches, over and over (a new pass, so a new shuffle, each time it runs out)."""
    while True:
        yield from loader
