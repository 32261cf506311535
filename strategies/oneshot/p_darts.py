"""P-DARTS, registered as ``"p_darts"``: progressive depth with search-space approximation and skip regularisation.

Paper: X. Chen, L. Xie, J. Wu and Q. Tian, "Progressive Differentiable Architecture Search: Bridging the Depth
Gap between Search and Evaluation", ICCV 2019.

Implemented, in two parts:

* :class:`PDARTS`, one stage: DARTS's softmax relaxation restricted to the ops kept so far (``keep``: label ->
  ops; a dropped op gets a mixing weight of exactly 0, is never called, and its logit gets no gradient), plus
  the search-space regularisation's op-level dropout after every ``skip_connect`` candidate, at rate
  ``skip_dropout * exp(-decay * e)`` in epoch ``e`` of the stage, counted from its first epoch, warm-up
  epochs included (``decay = 0.2`` is the authors' code's factor as we recall it, not re-checked; that code
  may hold the rate during its warm-up, which ours does not). The dropout mask is drawn from the method's own generator;
* :func:`run_pdarts`, the stages: each stage is a :func:`~nni_effnas.oneshot.runner.run_oneshot` search of a
  deeper supernet (``depths``), started from fresh weights and logits, over the ops the previous stage kept;
  at the end of a stage every label keeps its ``keep_ops[s]`` strongest ops. The final cell is derived from
  the last stage's strengths and then limited to ``max_skips`` ``skip_connect`` ops in the normal cell (the
  paper's ``M = 2``): while there are more, the chosen skip with the weakest strength loses it and the cell is
  derived again (the edge takes its next strongest op, or, in the DARTS space, another edge may win).

Mapping of the paper's stages. The paper searches the DARTS space in 3 stages of 5, 11 and 17 cells with 8, 5
and 3 candidate ops (skip dropout 0.0, 0.4, 0.7 on CIFAR-10): ``run_pdarts(space="darts")`` defaults to
``layers`` 5, 11, 17 and keeps 5 then 3 ops. On NAS-Bench-201 (5 ops, 3 stages of ``num_cells`` cells) the
defaults are ``num_cells`` 1, 2, 3 (a CPU-scale progression; the benchmark's network has 5) with 5, 4, then
3 ops; the normal-cell skip limit counts the whole NAS-Bench-201 cell.

Every entry point runs the stages: ``search_oneshot(method="p_darts")`` (the bench, ``effnas-trial``'s
``oneshot`` evaluator, the NNI strategy) calls :meth:`PDARTS.search`, which takes the stage settings
(``depths``, ``keep_ops``, ``skip_dropouts``, ``max_skips``, ``depth_key``) from the method arguments, so a
trial's parameters can set them. With ``checkpoint_dir`` each stage keeps its checkpoints and, once done, its
result in ``stage-<n>/``; ``resume=True`` loads the finished stages and continues the unfinished one.

Deviations: each stage is a full ``run_oneshot`` (its own data split, fresh weights, the engine's DARTS
training defaults) rather than the paper's 25 epochs with 10 weight-only warm-up epochs per stage (pass
``search_args={"warmup_epochs": 10}`` for those); the stage's width is the same ``model_kwargs`` throughout
(the paper also widens the ImageNet search); with the DARTS space, ``none`` is kept or dropped like any op,
and the DARTS derivation ignores it.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

from nni_effnas.checks import check_int, check_number, is_int, is_number
from nni_effnas.report_io import save_json
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

if TYPE_CHECKING:
    from nni_effnas.oneshot.runner import OneShotResult
    from nni_effnas.oneshot.supernet import MixedOp, Supernet
    from nni_effnas.search_spaces.base import SearchSpace

__all__ = ["PDARTS", "STAGES", "limit_skips", "run_pdarts", "stage_summaries", "top_ops"]

SKIP = "skip_connect"
_DEPTH_KEYS = {"nb201": "num_cells", "darts": "layers"}
#: Per space, :func:`run_pdarts`'s default (depths, ops kept after each stage but the last).
STAGES = {"nb201": ((1, 2, 3), (4, 3)), "darts": ((5, 11, 17), (5, 3))}
#: :func:`run_pdarts`'s stage settings, which :meth:`PDARTS.search` also accepts among the method arguments.
STAGE_ARGS = ("depths", "keep_ops", "skip_dropouts", "max_skips", "depth_key")
#: Method arguments that the stages set; a caller may not.
_SET_BY_STAGES = ("keep", "skip_dropout", "stage")


@ONESHOT.register("p_darts")
class PDARTS(OneShotMethod):
    """One P-DARTS stage: DARTS over the kept ops with a decaying dropout after ``skip_connect``.

    Args:
        seed, init_scale: as :class:`OneShotMethod`.
        keep: label -> ops still searched (None or a missing label: all of the label's ops).
        skip_dropout: the stage's initial dropout rate after ``skip_connect`` (paper, CIFAR-10: 0.0, 0.4, 0.7).
        decay: the rate is ``skip_dropout * exp(-decay * epoch)``.
        stage: which of :func:`run_pdarts`'s stages this is (from 1; None outside them), for reports only.
    """

    name = "p_darts"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, keep: Mapping[str, Sequence[str]] | None = None,
                 skip_dropout: float = 0.0, decay: float = 0.2, stage: int | None = None) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        if not is_number(skip_dropout) or not 0 <= skip_dropout < 1:
            raise ValueError(f"skip_dropout must be a number in [0, 1), got {skip_dropout!r}")
        check_number("decay", decay)
        if keep is not None and not isinstance(keep, Mapping):
            raise TypeError(f"keep must be a dict of label -> ops, got {type(keep).__name__}")
        self.keep = None if keep is None else {str(k): [str(op) for op in v] for k, v in keep.items()}
        self.skip_dropout, self.decay, self.stage = float(skip_dropout), float(decay), stage
        self.masks: dict[str, torch.Tensor] = {}

    def setup(self, supernet: "Supernet", *, space: "SearchSpace") -> None:
        super().setup(supernet, space=space)
        keep = self.keep or {}
        unknown = sorted(set(keep) - set(supernet.labels))
        if unknown:
            raise ValueError(f"keep names unknown labels {unknown}; the supernet has {supernet.labels}")
        self.masks = {}
        for label, names in supernet.op_names.items():
            kept = keep.get(label, names)
            bad = [op for op in kept if op not in names]
            if bad or not kept:
                raise ValueError(f"keep[{label!r}] = {kept!r} must be a non-empty subset of {names}")
            self.masks[label] = torch.tensor([name in kept for name in names])

    @property
    def dropout_rate(self) -> float:
        return self.skip_dropout * math.exp(-self.decay * self.epoch)

    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        out = {}
        for label, a in alpha.items():
            mask = self.masks.get(label)
            if mask is None or bool(mask.all()):
                out[label] = torch.softmax(a, dim=-1)
            else:
                mask = mask.to(a.device)
                out[label] = torch.zeros_like(a).masked_scatter(mask, torch.softmax(a[mask], dim=-1))
        return out

    def mix(self, edge: "MixedOp", x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return super().mix(edge, x, weights, keep=self.masks.get(edge.label))

    def candidate_output(self, edge: "MixedOp", index: int, x: torch.Tensor) -> torch.Tensor:
        y = edge.candidates[index](x)
        if edge.names[index] == SKIP and edge.training and self.dropout_rate > 0:
            y = self._dropout(y)
        return y

    def _dropout(self, y: torch.Tensor) -> torch.Tensor:
        p = self.dropout_rate
        keep = torch.bernoulli(torch.full(y.shape, 1.0 - p), generator=self.generator).to(y)
        return y * keep / (1.0 - p)

    def strengths(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {label: w.detach() for label, w in self.edge_weights(alpha, training=False).items()}

    def epoch_metrics(self) -> dict[str, Any]:
        return {} if self.stage is None else {"stage": self.stage}

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "keep": self.keep, "skip_dropout": self.skip_dropout, "decay": self.decay,
                "stage": self.stage}

    @classmethod
    def search(cls, *, method_args: Mapping[str, Any] | None = None, **run_kwargs: Any) -> "OneShotResult":
        """P-DARTS's whole search: :func:`run_pdarts`. The stage settings (:data:`STAGE_ARGS`) may be given
        among ``method_args`` (as trial parameters are); the other method arguments go to every stage."""
        args = dict(method_args or {})
        stage_args = {key: args.pop(key) for key in STAGE_ARGS if key in args}
        return run_pdarts(method_args=args, **{**run_kwargs, **stage_args})


def top_ops(weights: Mapping[str, Mapping[str, float]], n: int) -> dict[str, list[str]]:
    """Per label, its ``n`` strongest ops with a positive strength (ties: the earlier op), in candidate order."""
    out = {}
    for label, row in weights.items():
        ranked = sorted((op for op in row if row[op] > 0), key=lambda op: -row[op])[:n]
        out[label] = [op for op in row if op in ranked]
    return out


def limit_skips(space: "SearchSpace", weights: Mapping[str, Mapping[str, float]], *, max_skips: int,
                label_prefix: str = "") -> dict[str, Any]:
    """``space.derive(weights)`` with at most ``max_skips`` ``skip_connect`` ops on the sample's labels starting
    with ``label_prefix``: the chosen skip with the weakest strength (on the supernet edge that carries it) is
    removed and the cell derived again, until the limit holds."""
    table = {label: dict(row) for label, row in weights.items()}
    while True:
        sample = dict(space.derive(table))
        edges = [_edge_of(key, sample) for key, op in sample.items() if key.startswith(label_prefix) and op == SKIP]
        if len(edges) <= max_skips:
            return sample
        weakest = min(edges, key=lambda label: table[label][SKIP])
        table[weakest][SKIP] = -1.0


def _check_stages(depths: Sequence[Any], keep_ops: Sequence[Any], skip_dropouts: Sequence[Any],
                  max_skips: Any) -> None:
    for name, values in (("depths", depths), ("keep_ops", keep_ops)):
        if not all(is_int(value) and value >= 1 for value in values):
            raise ValueError(f"{name} must be ints >= 1, got {list(values)!r}")
    check_int("max_skips", max_skips, 0)
    if len(keep_ops) != len(depths) - 1 or len(skip_dropouts) < len(depths):
        raise ValueError(f"{len(depths)} stages need {len(depths) - 1} keep_ops and {len(depths)} skip_dropouts, "
                         f"got keep_ops={list(keep_ops)!r}, skip_dropouts={list(skip_dropouts)!r}")


def stage_summaries(result: "OneShotResult") -> list[dict[str, Any]]:
    """Per stage of a :func:`run_pdarts` result: its ``depth``, ``keep`` (the ops it searched; None: all) and
    derived ``arch``, for reports; empty for a one-stage search."""
    return [{"depth": s["depth"], "keep": s["keep"], "arch": s["arch"]} for s in result.extra.get("stages", ())]


def _finished_stage(stage_dir: Path, done: Mapping[str, Any]) -> "OneShotResult | None":
    """The stage's saved result if it was run with the settings in ``done``, else None."""
    from nni_effnas.oneshot.runner import OneShotResult

    path = stage_dir / "result.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    if any(saved.get(key) != value for key, value in done.items()):
        return None
    return OneShotResult(**saved["result"])


def _edge_of(key: str, sample: Mapping[str, Any]) -> str:
    """The supernet edge label behind a sample key: the key itself (NAS-Bench-201), or for the DARTS space's
    ``{cell}_{i}_op{0,1}`` the edge from the node's chosen input (``{cell}_{i}_inputs``, ``0_1`` for node 2)."""
    parts = key.split("_")
    if len(parts) == 3 and parts[2] in ("op0", "op1"):
        cell, node = parts[0], parts[1]
        source = str(sample.get(f"{cell}_{node}_inputs", "0_1")).split("_")[int(parts[2][-1])]
        return f"{cell}_{source}_{node}"
    return key


def run_pdarts(
    *,
    space: str = "nb201",
    depths: Sequence[int] | None = None,
    keep_ops: Sequence[int] | None = None,
    skip_dropouts: Sequence[float] = (0.0, 0.4, 0.7),
    max_skips: int = 2,
    depth_key: str | None = None,
    method_args: Mapping[str, Any] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    **run_kwargs: Any,
) -> "OneShotResult":
    """P-DARTS's stages through :func:`run_oneshot`; returns the last stage's result with the final, skip-limited
    cell as ``sample``/``arch``, ``seconds`` summed over the stages, and the stages in ``extra["stages"]`` (depth,
    kept ops, derived arch, strengths, per-epoch history, seconds).

    ``depths``: supernet depth per stage (``model_kwargs[depth_key]``; ``depth_key`` defaults to
    ``num_cells`` for ``"nb201"`` and ``layers`` for ``"darts"``); ``keep_ops``: ops kept per label after each
    stage but the last (one fewer entry than ``depths``); ``skip_dropouts``: each stage's initial skip
    dropout. Other keyword arguments (``dataset``, ``epochs``, ``seed``, ...) go to every ``run_oneshot``.

    ``checkpoint_dir``: stage ``n`` checkpoints into ``checkpoint_dir/stage-<n>`` and, when done, writes its
    result there (``result.json``). ``resume=True`` loads every finished stage that was run for the same number
    of epochs and the same kept ops, continues the first unfinished one from its last checkpoint, and starts the
    later ones afresh. A stage that starts afresh first removes its own and the later stages' old files.
    """
    from nni_effnas.oneshot.runner import run_oneshot
    from nni_effnas.search_spaces import get_space

    default_depths, default_keep = STAGES.get(space, (None, None))
    depths = tuple(depths if depths is not None else default_depths or ())
    keep_ops = tuple(keep_ops if keep_ops is not None else default_keep or ())
    depth_key = depth_key or _DEPTH_KEYS.get(space)
    if not depths or depth_key is None:
        raise ValueError(f"space {space!r} needs explicit depths and depth_key")
    _check_stages(depths, keep_ops, skip_dropouts, max_skips)
    if "method" in run_kwargs:
        raise ValueError("run_pdarts always runs method 'p_darts'")
    taken = sorted(set(method_args or {}) & set(_SET_BY_STAGES))
    if taken:
        raise ValueError(f"method arguments {taken} are set by P-DARTS's stages; use keep_ops and skip_dropouts")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    search_space = get_space(space)
    keep: dict[str, list[str]] | None = None
    stages: list[dict[str, Any]] = []
    result: Any = None
    for stage, depth in enumerate(depths):
        stage_dir = None if checkpoint_dir is None else Path(checkpoint_dir) / f"stage-{stage + 1}"
        done = {"epochs": run_kwargs.get("epochs"), "keep": keep}  # what a finished stage must have been run with
        result = _finished_stage(stage_dir, done) if resume else None  # resume implies a checkpoint_dir
        if result is None:
            resume_stage = resume and (stage_dir / "last.ckpt").is_file()
            if checkpoint_dir is not None:  # old files: later stages searched other ops; this one restarts
                for n in range(stage + (2 if resume_stage else 1), len(depths) + 1):
                    shutil.rmtree(Path(checkpoint_dir) / f"stage-{n}", ignore_errors=True)
            args = {**dict(method_args or {}), "keep": keep, "skip_dropout": float(skip_dropouts[stage]),
                    "stage": stage + 1}
            result = run_oneshot(space=space, method="p_darts", method_args=args,
                                 model_kwargs={**dict(model_kwargs or {}), depth_key: depth},
                                 checkpoint_dir=stage_dir, resume=resume_stage, **run_kwargs)
            if stage_dir is not None:
                save_json({**done, "result": result.to_dict()}, stage_dir / "result.json")
            resume = False  # a stage that ran makes every later one start afresh
        stages.append({"depth": depth, "keep": keep, "arch": result.arch, "weights": result.weights,
                       "history": result.history, "seconds": result.seconds})
        if stage < len(keep_ops):
            keep = top_ops(result.weights, keep_ops[stage])
    prefix = "normal_" if any(label.startswith("normal_") for label in result.weights) else ""
    sample = limit_skips(search_space, result.weights, max_skips=max_skips, label_prefix=prefix)
    extra = {**result.extra, "stages": stages, "max_skips": max_skips}
    return dataclasses.replace(result, sample=sample, arch=search_space.to_string(sample), extra=extra,
                               seconds=sum(s["seconds"] for s in stages))
