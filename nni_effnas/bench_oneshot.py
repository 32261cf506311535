"""``nni-effnas bench oneshot``: differentiable search methods on NAS-Bench-201, scored by transfer.

Protocol. Every registered one-shot method (``strategies.oneshot.ONESHOT``; ``variants``) searches the NB201
supernet on a CPU-feasible proxy task (default Fashion-MNIST, a ``limit``-image training subset, a small
supernet) with :func:`~nni_effnas.oneshot.search_oneshot` (P-DARTS: its stages), once per seed, watched by a
:class:`~nni_effnas.oneshot.monitor.CollapseMonitor` (Hessian on, ``power_iterations`` power steps). The
derived cell is then looked up in the offline NAS-Bench-201 table: its 200-epoch test accuracy on CIFAR-10,
CIFAR-100 and ImageNet16-120 (a transfer test: the cell was found on another task with a smaller network).
Per variant the report gives mean and standard deviation (ddof 1) over seeds of each accuracy, the derived
cells, the final skip count, alpha entropy and dominant Hessian eigenvalue, search seconds and seconds per step.

Step time and memory (:func:`compare_step_time`): our first-order DARTS against NNI 3.0's
``nni.nas.strategy.DARTS`` on the same supernet (the space's ``model_space(...)``, LayerChoices), the same
data halves, batch size and ``timing_steps`` training steps, each run in its own fresh process. NNI's DARTS
runs through ``NasExperiment`` with a ``Classification`` evaluator (SGD, DARTS's learning rate and weight
decay, gradient clipping 5; our loop also keeps SGD momentum, so it does slightly more work). Both sides are
timed by the same Lightning callback (``on_train_batch_start`` to ``on_train_batch_end``: architecture and
weight step, no data loading); the first step is dropped, the median is reported. Peak memory: on GPU
``torch.cuda.max_memory_allocated`` during training; on CPU the growth of the resident set during training,
``VmHWM`` after training minus ``VmRSS`` before it, with the high-water mark reset through
``/proc/self/clear_refs`` and glibc told to return freed blocks (``mallopt``/``malloc_trim``), so it counts
tensor memory the training touched plus allocator overhead; and, in a second untimed process per
implementation, the allocator peak (CPU tensor bytes allocated above the start, from the profiler's memory
events: the CPU counterpart of the GPU figure). If NNI's route fails, the report holds its error
instead of numbers. If ``"pc_darts"`` is registered its peak memory is measured the same way and reported
relative to DARTS's (the issue's targets: PC-DARTS at most half of DARTS's peak memory; our step time at most
NNI's).
"""
from __future__ import annotations

import functools
import itertools
import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from nni_effnas.bench_oneshot_timing import compare_step_time, measure_impl
from nni_effnas.bench_predictors import machine_info
from nni_effnas.checks import check_int
from nni_effnas.nb201 import DATASETS, load_table
from nni_effnas.report_io import nan_if_none, save_figure
from nni_effnas.run_journal import Runs, identity
from nni_effnas.strategies.oneshot import ONESHOT, create_method
from nni_effnas.strategies.oneshot.p_darts import STAGES as PDARTS_STAGES, stage_summaries

#: Default settings, sized for the whole default run (all registered variants, one seed, the step-time
#: comparison) to finish in well under 30 minutes on 2 CPU cores; see docs/oneshot.md for measured numbers.
DEFAULTS: dict[str, Any] = {"data": "fashion-mnist", "channels": 8, "num_cells": 1, "limit": 1024,
                            "val_limit": 500, "batch_size": 64, "epochs": 4, "seeds": 1, "timing_steps": 6,
                            "power_iterations": 8}
#: P-DARTS's supernet depth (cells per stage) in each of its stages: the NB201 default of
#: :func:`~nni_effnas.strategies.oneshot.p_darts.run_pdarts`; ``--num-cells`` does not apply to it.
PDARTS_DEPTHS = PDARTS_STAGES["nb201"][0]
#: The methods whose step time and memory :func:`compare_step_time` measures besides NNI's DARTS.
COMPARED = ("darts", "pc_darts")
ACC_METRIC = "test_acc_200ep"
SUMMARY_KEYS = ("skip_count", "alpha_entropy", "alpha_entropy_norm", "hessian_eig", "seconds", "seconds_per_step")


def check_settings(*, variants: Sequence[str], method_args: Mapping[str, Any] | None, space: str, epochs: int,
                   seeds: int, channels: int, num_cells: int, batch_size: int, limit: int | None,
                   timing_steps: int, accelerator: str, search_args: Mapping[str, Any] | None = None
                   ) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Validate user settings (one-line ``ValueError`` naming the bad value); canonical variants and their args."""
    if str(space).lower() != "nb201":
        raise ValueError(f"no one-shot benchmark for space {space!r}; expected nb201")
    names = list(dict.fromkeys(ONESHOT.canonical(v) for v in variants))
    if not names:
        raise ValueError(f"--variants is empty; expected some of: {', '.join(ONESHOT.names())}")
    for flag, value, minimum in (("--epochs", epochs, 1), ("--seeds", seeds, 1), ("--channels", channels, 1),
                                 ("--num-cells", num_cells, 1), ("--batch-size", batch_size, 2),
                                 ("--timing-steps", timing_steps, 0)):
        check_int(flag, value, minimum)
    if timing_steps == 1:
        raise ValueError("--timing-steps must be 0 (no step-time comparison) or >= 2 (the first step is dropped), "
                         "got 1")
    if limit is not None and check_int("--limit", limit) < 2 * batch_size:
        raise ValueError(f"--limit {limit} gives fewer than one batch of {batch_size} per half; "
                         f"expected >= {2 * batch_size}")
    if accelerator not in ("cpu", "gpu"):
        raise ValueError(f"unknown --accelerator {accelerator!r}; expected cpu or gpu")
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ValueError("--accelerator gpu, but torch sees no CUDA GPU on this machine; use --accelerator cpu")
    _check_search_args(search_args)
    if method_args is not None and not isinstance(method_args, Mapping):
        raise ValueError(f"--method-args must map variant names to keyword arguments, got {method_args!r}")
    args: dict[str, dict[str, Any]] = {}
    for key, kwargs in (method_args or {}).items():
        name = ONESHOT.canonical(key)
        if name not in names and name not in COMPARED:
            raise ValueError(f"--method-args names {key!r}, which is not among --variants")
        if not isinstance(kwargs, Mapping):
            raise ValueError(f"--method-args for {key!r} must be an object of keyword arguments, got {kwargs!r}")
        if "seed" in kwargs:
            raise ValueError(f"--method-args for {key!r} sets seed; the benchmark sets it per run")
        create_method(name, **kwargs)  # an unknown keyword fails now, not after the first searches
        args[name] = dict(kwargs)
    return names, args


def _check_search_args(search_args: Mapping[str, Any] | None) -> None:
    """``--search-args`` must be keyword arguments of :class:`OneShotSearch` other than those the benchmark sets."""
    import inspect

    from nni_effnas.oneshot.search import OneShotSearch

    if search_args is None:
        return
    if not isinstance(search_args, Mapping):
        raise ValueError(f"--search-args must be an object of keyword arguments, got {search_args!r}")
    allowed = [p for p in inspect.signature(OneShotSearch.__init__).parameters
               if p not in ("self", "space", "method", "model_kwargs")]
    unknown = sorted(set(search_args) - set(allowed))
    if unknown:
        raise ValueError(f"--search-args {', '.join(map(repr, unknown))}: not an argument of the search; expected "
                         f"some of: {', '.join(allowed)}")


def transfer_accuracies(arch: str) -> dict[str, float]:
    """NAS-Bench-201 200-epoch test accuracy of ``arch`` on each of its datasets."""
    return load_table().test_accuracies(arch)


def reference_cells() -> dict[str, dict[str, Any]]:
    """The all-skip cell and the best cell (by CIFAR-10 test accuracy) with their accuracies."""
    table = load_table()
    best = int(np.argmax(table.column("cifar10", ACC_METRIC)))
    skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    return {name: {"arch": arch, **transfer_accuracies(arch)}
            for name, arch in (("all_skip", skip), ("best", table.arch_str(best)))}


def search_one(variant: str, seed: int, *, settings: Mapping[str, Any],
               method_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One monitored search (``settings`` as in the report); the run record, or one with ``error`` set."""
    from nni_effnas.oneshot import search_oneshot
    from nni_effnas.oneshot.monitor import CollapseMonitor

    monitor = CollapseMonitor(hessian=True, power_iterations=settings["power_iterations"], seed=seed)
    record: dict[str, Any] = {"variant": variant, "seed": seed}
    try:  # P-DARTS's search is its stages (deeper supernets over fewer ops); the others' is one run_oneshot
        result = search_oneshot(
            method=variant, space="nb201", method_args=method_args, dataset=settings["data"],
            data_dir=settings.get("data_dir"), limit=settings["limit"], val_limit=settings["val_limit"],
            epochs=settings["epochs"], batch_size=settings["batch_size"], seed=seed,
            model_kwargs={"channels": settings["channels"], "num_cells": settings["num_cells"]},
            search_args=settings.get("search_args") or None, accelerator=settings["accelerator"],
            callbacks=[monitor])
    except (ValueError, TypeError, FileNotFoundError):
        raise  # bad settings: the user's to fix, not a result
    except Exception as exc:  # noqa: BLE001 - a diverging or crashing method is a result of the benchmark
        return {**record, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    last = monitor.history[-1] if monitor.history else {}
    stages = result.extra.get("stages")  # P-DARTS's
    histories = [h for s in stages for h in s["history"]] if stages else result.history
    steps_per_epoch = (result.extra["limit"] or 0) // 2 // result.extra["batch_size"] if result.extra["limit"] else None
    record.update({
        "arch": result.arch, "index": load_table().index(result.arch), "accuracy": transfer_accuracies(result.arch),
        # counted on the final cell: P-DARTS's skip limit and DARTS-PT's selection come after the last epoch
        "skip_count": sum(str(op) in monitor.skip_ops for op in result.sample.values()),
        "param_free_count": sum(str(op) in monitor.param_free_ops for op in result.sample.values()),
        "alpha_entropy": last.get("alpha_entropy"), "alpha_entropy_norm": last.get("alpha_entropy_norm"),
        "hessian_eig": last.get("hessian_eig"), "seconds": result.seconds, "seconds_per_step": result.seconds_per_step,
        "epochs": result.epochs, "steps_per_epoch": steps_per_epoch, "stopped_early": result.stopped_early,
        "peak_memory_mb": result.peak_memory_mb, "method_args": result.extra["method_args"],
        "curves": [{"epoch": k + 1, **{key: r.get(key) for key in ("skip_count", "alpha_entropy_norm", "hessian_eig")},
                    "supernet_val_acc": h.get("val_acc"), "train_loss": h.get("train_loss")}
                   for k, (r, h) in enumerate(zip(monitor.history, histories))],
    })
    if stages:
        record["stages"] = stage_summaries(result)
    for key in ("selection", "candidates"):  # per-edge decisions (DARTS-PT, Zero-Cost-PT); Zero-Cost-PT's pool
        if key in result.extra:
            record[key] = result.extra[key]
    return record


def _mean_std(values: Sequence[float | None]) -> tuple[float, float, int]:
    ok = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not ok.size:
        return float("nan"), float("nan"), 0
    return float(ok.mean()), float(ok.std(ddof=1)) if ok.size > 1 else 0.0, int(ok.size)


def summarise(runs: Sequence[Mapping[str, Any]], variants: Sequence[str]) -> list[dict[str, Any]]:
    """Per variant: mean and standard deviation (ddof 1; 0 for one seed) over its successful seeds."""
    rows = []
    for name in variants:
        group = [r for r in runs if r["variant"] == name and "error" not in r]
        row: dict[str, Any] = {"variant": name, "seeds": len(group),
                               "failed": sum(r["variant"] == name and "error" in r for r in runs),
                               "cells": [r["arch"] for r in group]}
        for dataset in DATASETS:
            row[f"{dataset}_mean"], row[f"{dataset}_std"], _ = _mean_std([r["accuracy"][dataset] for r in group])
        for key in SUMMARY_KEYS:
            row[f"{key}_mean"], row[f"{key}_std"], _ = _mean_std([r[key] for r in group])
        rows.append(row)
    return rows


def run_benchmark(
    *,
    space: str = "nb201",
    variants: Sequence[str] | None = None,
    data: str = DEFAULTS["data"],
    data_dir: str | Path | None = None,
    epochs: int = DEFAULTS["epochs"],
    seeds: int = DEFAULTS["seeds"],
    seed_offset: int = 0,
    channels: int = DEFAULTS["channels"],
    num_cells: int = DEFAULTS["num_cells"],
    limit: int | None = DEFAULTS["limit"],
    val_limit: int | None = DEFAULTS["val_limit"],
    batch_size: int = DEFAULTS["batch_size"],
    method_args: Mapping[str, Mapping[str, Any]] | None = None,
    search_args: Mapping[str, Any] | None = None,
    accelerator: str = "cpu",
    power_iterations: int = DEFAULTS["power_iterations"],
    timing_steps: int = DEFAULTS["timing_steps"],
    progress: Callable[[int, int, str], None] | None = None,
    journal: str | Path | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); a JSON-able report. ``variants=None``: every registered
    method. ``timing_steps=0`` skips the step-time comparison. ``search_args`` reach every search's
    :class:`~nni_effnas.oneshot.search.OneShotSearch` (e.g. ``{"a_lr": 3e-3}``). ``progress(done, total, line)``
    after each run. ``journal``: a :class:`~nni_effnas.run_journal.RunJournal` file that keeps every finished
    (variant, seed) run, so a stopped benchmark run again with the same settings runs only the missing ones.
    ``workers > 1``: the runs go to that many spawned processes with one torch thread each (progress lines then
    come in the order the runs finish; the report keeps variant and seed order)."""
    names, args = check_settings(variants=ONESHOT.names() if variants is None else variants,
                                 method_args=method_args, space=space, epochs=epochs, seeds=seeds,
                                 channels=channels, num_cells=num_cells, batch_size=batch_size, limit=limit,
                                 timing_steps=timing_steps, accelerator=accelerator, search_args=search_args)
    check_int("--power-iterations", power_iterations)
    check_int("--workers", workers, 1)
    if val_limit is not None:
        check_int("--val-limit", val_limit)
    from nni_effnas.trials.data import DATASETS as PROXY_TASKS

    data = PROXY_TASKS.canonical(data)
    settings = {"data": data, "data_dir": None if data_dir is None else str(data_dir), "epochs": epochs,
                "channels": channels, "num_cells": num_cells, "limit": limit, "val_limit": val_limit,
                "batch_size": batch_size, "accelerator": accelerator, "power_iterations": power_iterations,
                "search_args": dict(search_args or {})}
    info = machine_info()
    seed_list = [seed_offset + k for k in range(seeds)]
    total = len(names) * len(seed_list) + (1 if timing_steps else 0)
    done = Runs(journal, "nni-effnas bench oneshot", {"space": space, **settings},
                {name: identity(name, args.get(name)) for name in names})
    start, finished = time.perf_counter(), itertools.count(1)

    def report(_key: tuple[str, int], run: Mapping[str, Any]) -> None:
        if progress:
            progress(next(finished), total, _run_line(run))

    tasks = {(name, seed): (functools.partial(search_one, settings=settings, method_args=args.get(name)),
                            (name, seed)) for name in names for seed in seed_list}
    runs = list(done.run_all(tasks, workers, report).values())  # in task order: variant, then seed
    comparison = None
    if timing_steps:
        comparison = compare_step_time(settings=settings, steps=timing_steps, method_args=args)
        if progress:
            progress(total, total, _comparison_line(comparison))
    return {"benchmark": "oneshot/nb201", "space": "nb201", "settings": settings, "variants": names,
            "method_args": args, "seeds": seed_list, "metric": ACC_METRIC, "references": reference_cells(),
            "machine": info, "wall_s": time.perf_counter() - start, "summary": summarise(runs, names),
            "runs": runs, "comparison": comparison}


def _run_line(run: Mapping[str, Any]) -> str:
    if "error" in run:
        return f"{run['variant']} seed {run['seed']}: FAILED {run['error']}"
    acc = run["accuracy"]
    eig = run["hessian_eig"]
    return (f"{run['variant']} seed {run['seed']}: {run['arch']} cifar10 {acc['cifar10']:.2f} "
            f"cifar100 {acc['cifar100']:.2f} imagenet16 {acc['imagenet16']:.2f}; skips {run['skip_count']}, "
            f"eig {'n/a' if eig is None else f'{eig:.3g}'}, {run['seconds']:.0f} s "
            f"({run['seconds_per_step']:.3f} s/step)")


def _comparison_line(comparison: Mapping[str, Any]) -> str:
    parts = []
    for key, row in comparison["impls"].items():
        if "error" in row:
            parts.append(f"{key}: FAILED ({row['error']})")
        else:
            parts.append(f"{key} {row['step_s_median']:.3f} s/step, {row['peak_memory_mb']:.0f} MB")
    return "step time: " + "; ".join(parts)


def format_table(report: Mapping[str, Any]) -> str:
    s = report["settings"]
    lines = [f"{report['benchmark']}: searched on {s['data']} (limit {s['limit']}, C={s['channels']}, "
             f"N={s['num_cells']}, {s['epochs']} epochs, batch {s['batch_size']}, {s['accelerator']}); NB201 "
             f"{report['metric']} of the derived cells, mean ± std over {len(report['seeds'])} seed(s); "
             f"torch threads {report['machine']['torch_threads']}",
             "| variant | seeds | cifar10 | cifar100 | imagenet16 | skips | entropy (norm) | hessian eig | search s |"
             " s/step |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["summary"]:
        accs = [f"{_f(r[f'{d}_mean'], 2)} ± {_f(r[f'{d}_std'], 2)}" for d in DATASETS]
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        lines.append(f"| {r['variant']} | {r['seeds']}{failed} | " + " | ".join(accs)
                     + f" | {_f(r['skip_count_mean'], 1)} | {_f(r['alpha_entropy_norm_mean'], 3)} | "
                     f"{_f(r['hessian_eig_mean'], 3, 'g')} | {_f(r['seconds_mean'], 0)} | "
                     f"{_f(r['seconds_per_step_mean'], 3)} |")
    refs = report["references"]
    lines.append(f"reference cells (cifar10): all-skip {refs['all_skip']['cifar10']:.2f}, "
                 f"best {refs['best']['cifar10']:.2f}")
    for r in report["summary"]:
        for cell in dict.fromkeys(r["cells"]):
            lines.append(f"  {r['variant']}: {cell}")
    for run in report["runs"]:
        if "error" in run:
            lines.append(f"  {run['variant']} seed {run['seed']} FAILED: {run['error']}")
    comparison = report.get("comparison")
    if comparison:
        lines.append(f"step time and peak memory ({comparison['steps']} steps, first dropped; memory: "
                     f"{comparison['memory_metric']}):")
        for key, row in comparison["impls"].items():
            allocated = (f", allocator peak {row['allocated_peak_mb']:.1f} MB" if "allocated_peak_mb" in row else "")
            lines.append(f"  {key}: FAILED ({row['error']})" if "error" in row else
                         f"  {key}: {row['step_s_median']:.4f} s/step (median), {row['peak_memory_mb']:.1f} MB"
                         + allocated)
        for name, check in comparison["targets"].items():
            lines.append(f"  target {name}: {check['statement']}: {check['value']} -> {_verdict(check['met'])}"
                         + (f"; by the allocator peak: {check['allocator_value']} -> "
                            f"{_verdict(check['allocator_met'])}" if "allocator_value" in check else ""))
    return "\n".join(lines)


def _verdict(met: bool | None) -> str:
    return "met" if met else "not met" if met is False else "not measured"


def _f(value: float | None, digits: int, kind: str = "f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}{kind}}"


def plot(report: Mapping[str, Any], path: str | Path) -> None:
    """Mean CIFAR-10 accuracy per variant (seed dots, all-skip and best cell as lines); per-epoch skip count and
    Hessian eigenvalue per run beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_skip, ax_eig) = plt.subplots(1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [1.4, 1, 1]})
    names = report["variants"]
    rows = {r["variant"]: r for r in report["summary"]}
    means = [nan_if_none(rows[n]["cifar10_mean"]) for n in names]
    ax.bar(range(len(names)), means, color="tab:blue", alpha=0.6)
    for k, name in enumerate(names):
        accs = [r["accuracy"]["cifar10"] for r in report["runs"] if r["variant"] == name and "error" not in r]
        ax.scatter([k] * len(accs), accs, color="black", s=14, zorder=3)
    refs = report["references"]
    ax.axhline(refs["all_skip"]["cifar10"], color="tab:red", ls="--", label=f"all-skip {refs['all_skip']['cifar10']:.2f}")
    ax.axhline(refs["best"]["cifar10"], color="tab:green", ls="--", label=f"best cell {refs['best']['cifar10']:.2f}")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("NB201 CIFAR-10 test acc. (200 ep) of derived cell")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"searched on {report['settings']['data']}, {len(report['seeds'])} seed(s)")
    for run in report["runs"]:
        curves = run.get("curves") or []
        if not curves:  # a failed run, or one without supernet training (Zero-Cost-PT)
            continue
        label = f"{run['variant']}/{run['seed']}"
        ax_skip.plot([c["epoch"] for c in curves], [c["skip_count"] for c in curves], marker="o", label=label)
        eig = [(c["epoch"], c["hessian_eig"]) for c in curves if c["hessian_eig"] is not None]
        ax_eig.plot([e for e, _ in eig], [v for _, v in eig], marker="o", label=label)
    ax_skip.set_xlabel("epoch")
    ax_skip.set_ylabel("skip connections in derived cell")
    ax_eig.set_xlabel("epoch")
    ax_eig.set_ylabel("dominant Hessian eigenvalue (arch params)")
    ax_eig.legend(fontsize=7)
    for a in (ax, ax_skip, ax_eig):
        a.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)



__all__ = ["DEFAULTS", "check_settings", "compare_step_time", "format_table", "measure_impl", "plot",
           "reference_cells", "run_benchmark", "search_one", "summarise", "transfer_accuracies"]
