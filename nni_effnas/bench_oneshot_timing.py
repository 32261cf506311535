"""Step time and peak memory of one-shot training steps: our methods against NNI 3.0's DARTS (``bench oneshot``).

:func:`measure_impl` trains ``steps`` steps of one implementation on the NB201 supernet and returns the
per-step wall times (a Lightning callback, ``on_train_batch_start`` to ``on_train_batch_end``: the
architecture step and the weight step, no data loading) and the peak memory of training:

* ``"ours:<method>"``: :class:`~nni_effnas.oneshot.search.OneShotSearch` with a registered method, trained by a
  plain ``pl.Trainer`` (no validation);
* ``"nni:darts"``: ``nni.nas.strategy.DARTS`` (first order, the only order NNI 3.0 has) run by
  ``nni.nas.experiment.NasExperiment`` on ``Classification(optimizer=SGD, learning_rate=0.025,
  weight_decay=3e-4)`` with ``gradient_clip_val=5``, ``max_epochs=1`` and ``limit_train_batches=steps``: NNI's
  supported in-process route (sequential engine, its ``DartsLightningModule`` wrapping the evaluator's module).

Both get the same model space (``NB201Space.model_space(channels, num_cells)``, NNI ``LayerChoice`` edges),
the same two data halves (weights / architecture, as in ``run_oneshot``) in the same order, and the same batch
size. Memory: on GPU ``torch.cuda.max_memory_allocated()`` over the training; on CPU the resident-set growth
``VmHWM - VmRSS`` around the training, after resetting the high-water mark (``/proc/self/clear_refs``) and
telling glibc to return freed memory (fixed mmap threshold, ``malloc_trim``), which approximates the memory
the training allocated (tensors, autograd graph, optimiser state, allocator overhead). Each measurement runs
in a fresh spawned process (:func:`measure_in_subprocess`), so one implementation's allocations and high-water
mark cannot leak into another's.

On CPU :func:`compare_step_time` also measures each implementation's **allocator peak** in a second, untimed
process: the highest total of CPU tensor memory allocated above the start of training, from the profiler's
memory events (``torch.profiler.profile(profile_memory=True)``), i.e. the CPU counterpart of
``torch.cuda.max_memory_allocated`` (tensors only: no allocator caching, library workspaces or interpreter).
The profiler slows the steps, so that process's times are not reported.
"""
from __future__ import annotations

import atexit
import ctypes
import gc
import tempfile
import time
import warnings
from typing import Any, Mapping

import numpy as np

from nni_effnas.checks import check_int

__all__ = ["compare_step_time", "measure_impl", "measure_in_subprocess"]

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def _loaders(settings: Mapping[str, Any], steps: int, seed: int, loader_cls: Any) -> tuple[Any, Any, Any]:
    """The data (exactly ``steps`` batches per half) and the two shuffled loaders, built with ``loader_cls``."""
    import torch
    from torch.utils.data import Subset

    from nni_effnas.trials.data import load_dataset

    batch = settings["batch_size"]
    data = load_dataset(settings["data"], data_dir=settings.get("data_dir"), seed=seed, limit=2 * batch * steps)
    half = len(data.train) // 2
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed)).tolist()
    train = loader_cls(Subset(data.train, order[:half]), batch_size=batch, shuffle=True, drop_last=True,
                       generator=torch.Generator().manual_seed(seed + 1))
    val = loader_cls(Subset(data.train, order[half:2 * half]), batch_size=batch, shuffle=True, drop_last=True,
                     generator=torch.Generator().manual_seed(seed + 2))
    return data, train, val


def _step_timer() -> Any:
    import pytorch_lightning as pl
    import torch

    class StepTimer(pl.Callback):
        """Wall time and process CPU time of every training batch (CUDA synchronised at both ends)."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []
            self._start = self._cpu = 0.0

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            self._start, self._cpu = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(time.process_time() - self._cpu)

    return StepTimer()


class _Memory:
    """Peak memory of a block of training (see the module docstring)."""

    def __init__(self, accelerator: str, allocator: bool = False) -> None:
        import torch

        self.gpu = accelerator == "gpu" and torch.cuda.is_available()
        self.metric = ("torch.cuda.max_memory_allocated during training" if self.gpu else
                       "resident-set growth during training (VmHWM after - VmRSS before, high-water mark reset)")
        self.profiler = None
        if allocator and not self.gpu:
            self.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                   profile_memory=True)

    def __enter__(self) -> "_Memory":
        import torch

        gc.collect()
        if self.gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return self
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)
        self.reset = _reset_high_water_mark()
        self.before = _status_mb("VmRSS")
        if self.profiler is not None:
            self.profiler.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.gpu:
            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 2 ** 20
            return
        self.high_water = _status_mb("VmHWM")
        self.peak_mb = self.high_water - self.before if self.reset else float("nan")
        if self.profiler is not None:
            self.profiler.__exit__(None, None, None)
            self.allocated_peak_mb = allocator_peak_bytes(self.profiler) / 2 ** 20


def allocator_peak_bytes(profiler: Any) -> int:
    """The highest running total of the CPU tensor bytes allocated (and not yet freed) in a finished
    ``torch.profiler.profile(profile_memory=True)`` block, counted from the block's start (0 if nothing grew)."""
    import torch

    events = sorted((e.start_ns(), e.nbytes()) for e in profiler.profiler.kineto_results.events()
                    if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU)
    totals = np.cumsum([nbytes for _, nbytes in events]) if events else np.zeros(1, dtype=np.int64)
    return int(max(0, totals.max()))


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _trainer(steps: int, accelerator: str, timer: Any, trainer_cls: Any) -> Any:
    return trainer_cls(max_epochs=1, limit_train_batches=steps, limit_val_batches=0, accelerator=accelerator,
                       devices=1, logger=False, callbacks=[timer], enable_progress_bar=False,
                       enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0)


def _run_ours(method: str, method_args: Mapping[str, Any], settings: Mapping[str, Any], steps: int,
              seed: int, allocator: bool = False) -> tuple[Any, "_Memory"]:
    import pytorch_lightning as pl
    from pytorch_lightning.utilities import CombinedLoader
    from torch.utils.data import DataLoader

    from nni_effnas.oneshot.search import OneShotSearch
    from nni_effnas.search_spaces import get_space
    from nni_effnas.strategies.oneshot import create_method

    data, train, val = _loaders(settings, steps, seed, DataLoader)
    pl.seed_everything(seed, verbose=False)
    module = OneShotSearch(space=get_space("nb201"), method=create_method(method, seed=seed, **dict(method_args)),
                           model_kwargs=_model_kwargs(settings, data))
    timer = _step_timer()
    trainer = _trainer(steps, settings["accelerator"], timer, pl.Trainer)
    loader = CombinedLoader({"train": train, "val": val}, mode="min_size")
    with _Memory(settings["accelerator"], allocator) as memory:
        trainer.fit(module, train_dataloaders=loader)
    return timer, memory


def _run_nni_darts(settings: Mapping[str, Any], steps: int, seed: int,
                   allocator: bool = False) -> tuple[Any, "_Memory"]:
    import pytorch_lightning as pl
    import torch
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.experiment import NasExperiment
    from nni.nas.strategy import DARTS

    from nni_effnas.search_spaces import get_space

    data, train, val = _loaders(settings, steps, seed, DataLoader)
    pl.seed_everything(seed, verbose=False)
    space = get_space("nb201").model_space(**_model_kwargs(settings, data))
    timer = _step_timer()
    trainer_kwargs = dict(max_epochs=1, limit_train_batches=steps, accelerator=settings["accelerator"], devices=1,
                          logger=False, callbacks=[timer], enable_progress_bar=False, enable_checkpointing=False,
                          enable_model_summary=False, num_sanity_val_steps=0)
    evaluator = Classification(learning_rate=0.025, weight_decay=3e-4, optimizer=torch.optim.SGD,
                               train_dataloaders=train, val_dataloaders=val, num_classes=data.num_classes,
                               **trainer_kwargs)
    experiment = NasExperiment(space, evaluator, DARTS(gradient_clip_val=5.0))
    with tempfile.TemporaryDirectory(prefix="effnas-nni-darts-") as workdir:
        experiment.config.experiment_working_directory = workdir  # its logs, not ~/nni-experiments
        try:
            with _Memory(settings["accelerator"], allocator) as memory:
                experiment.run()
        finally:
            _release(experiment)
    return timer, memory


def _release(experiment: Any) -> None:
    """End an in-process NasExperiment without its ``stop()``: that pickles the trained supernet and the traced
    data loaders into a checkpoint (slow; at interpreter exit through ``atexit`` it held a test run for minutes).
    The manifest entry NNI wrote in ``~/nni-experiments/.experiment`` is marked STOPPED."""
    atexit.unregister(experiment.stop)
    try:
        experiment._stop_without_nni_manager()  # noqa: SLF001 - the manifest update stop() would do
        if experiment._engine is not None:  # noqa: SLF001
            experiment._engine.shutdown()  # noqa: SLF001
        experiment._stop_logging()  # noqa: SLF001
    except Exception:  # noqa: BLE001 - bookkeeping only; the measurement is done
        pass


def _model_kwargs(settings: Mapping[str, Any], data: Any) -> dict[str, int]:
    return {"channels": settings["channels"], "num_cells": settings["num_cells"],
            "in_channels": data.in_channels, "num_classes": data.num_classes}


def measure_impl(impl: str, *, settings: Mapping[str, Any], steps: int, seed: int = 0,
                 method_args: Mapping[str, Any] | None = None, threads: int | None = None,
                 allocator: bool = False) -> dict[str, Any]:
    """Time ``steps`` training steps of ``impl`` (``"ours:<method>"`` or ``"nni:darts"``) in this process.

    Returns ``step_s_median``/``step_s_mean`` over the steps after the first, ``steps_timed``, ``peak_memory_mb``
    and ``memory_metric``; or ``{"error": reason}`` if the implementation cannot be run. ``allocator=True``
    (CPU) also returns ``allocated_peak_mb``, measured under the profiler, which slows the steps."""
    import torch

    from nni_effnas import compat

    if threads:
        torch.set_num_threads(threads)
    compat.quiet_nni_logging(40)
    libc = _libc()
    if libc is not None and settings["accelerator"] != "gpu":
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)  # big blocks are mmapped and go back to the OS when freed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if impl == "nni:darts":
                timer, memory = _run_nni_darts(settings, steps, seed, allocator)
            elif impl.startswith("ours:"):
                timer, memory = _run_ours(impl.split(":", 1)[1], method_args or {}, settings, steps, seed, allocator)
            else:
                raise ValueError(f"unknown implementation {impl!r}; expected 'ours:<method>' or 'nni:darts'")
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - NNI's route failing is a finding, reported instead of numbers
        return {"impl": impl, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    if len(timer.seconds) < 2:
        return {"impl": impl, "error": f"only {len(timer.seconds)} training step(s) ran; expected {steps}"}
    wall, cpu = np.array(timer.seconds[1:]), np.array(timer.cpu_seconds[1:])
    return {"impl": impl, "steps_timed": int(wall.size), "step_s_median": float(np.median(wall)),
            "step_s_mean": float(wall.mean()), "step_s_first": float(timer.seconds[0]),
            "cpu_s_median": float(np.median(cpu)), "cpu_s_mean": float(cpu.mean()),
            "peak_memory_mb": float(memory.peak_mb), "memory_metric": memory.metric,
            "torch_threads": torch.get_num_threads(),
            **({"allocated_peak_mb": float(memory.allocated_peak_mb)} if memory.profiler is not None else {})}


def measure_in_subprocess(impl: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`measure_impl` in a fresh spawned process (its result, or an ``error`` if the process died)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    kwargs.setdefault("threads", _threads())
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(measure_impl, impl, **kwargs).result()
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the child was killed for memory
        return {"impl": impl, "error": f"measurement process failed: {type(exc).__name__}: {exc}".splitlines()[0]}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def compare_step_time(*, settings: Mapping[str, Any], steps: int, seed: int = 0,
                      method_args: Mapping[str, Mapping[str, Any]] | None = None,
                      subprocess: bool = True) -> dict[str, Any]:
    """Our DARTS (and PC-DARTS if registered) against NNI's DARTS; the issue's two targets checked.

    ``steps`` >= 2 (the first is dropped). ``subprocess=False`` measures in this process (quicker; CPU memory
    numbers then include whatever this process already holds and are not comparable)."""
    from nni_effnas.strategies.oneshot import ONESHOT

    check_int("--timing-steps", steps, 2)
    measure = measure_in_subprocess if subprocess else measure_impl
    impls = ["ours:darts", "nni:darts"] + (["ours:pc_darts"] if "pc_darts" in ONESHOT else [])

    def args_of(impl: str) -> Mapping[str, Any] | None:
        return (method_args or {}).get(impl.split(":", 1)[1]) if impl.startswith("ours:") else None

    rows = {impl: measure(impl, settings=dict(settings), steps=steps, seed=seed, method_args=args_of(impl))
            for impl in impls}
    if settings["accelerator"] != "gpu":  # the allocator peak, in a second process each: the profiler slows steps
        for impl, row in rows.items():
            if "error" not in row:
                profiled = measure(impl, settings=dict(settings), steps=steps, seed=seed, allocator=True,
                                   method_args=args_of(impl))
                row["allocated_peak_mb"] = profiled.get("allocated_peak_mb", float("nan"))
    ours, nni, pc = rows["ours:darts"], rows["nni:darts"], rows.get("ours:pc_darts")
    # on CPU, process CPU seconds: wall time on a shared machine measures the other jobs as much as ours
    time_key = "step_s_median" if settings["accelerator"] == "gpu" else "cpu_s_median"
    step_ratio = _ratio(ours, nni, time_key)
    targets = {"darts_step_time": {"statement": f"our first-order DARTS {time_key} / NNI DARTS {time_key} <= 1",
                                   "value": step_ratio, "met": None if step_ratio is None else step_ratio <= 1.0,
                                   "wall_ratio": _ratio(ours, nni, "step_s_median")}}
    if pc is None:
        targets["pc_darts_memory"] = {"statement": "PC-DARTS peak memory / DARTS peak memory <= 0.5",
                                      "value": None, "met": None, "reason": "pc_darts is not registered"}
    else:
        mem_ratio = _ratio(pc, ours, "peak_memory_mb")
        targets["pc_darts_memory"] = {"statement": "PC-DARTS peak memory / DARTS peak memory <= 0.5",
                                      "value": mem_ratio, "met": None if mem_ratio is None else mem_ratio <= 0.5,
                                      "method_args": dict((method_args or {}).get("pc_darts", {}))}
        if "allocated_peak_mb" in pc:
            alloc_ratio = _ratio(pc, ours, "allocated_peak_mb")
            targets["pc_darts_memory"].update(
                allocator_value=alloc_ratio, allocator_met=None if alloc_ratio is None else alloc_ratio <= 0.5)
    metric = next((r["memory_metric"] for r in rows.values() if "memory_metric" in r), "n/a")
    return {"steps": steps, "seed": seed, "subprocess": subprocess, "memory_metric": metric, "impls": rows,
            "targets": targets}


def _ratio(a: Mapping[str, Any], b: Mapping[str, Any], key: str) -> float | None:
    x, y = a.get(key), b.get(key)
    if x is None or y is None or not np.isfinite(x) or not np.isfinite(y) or y <= 0:
        return None
    return float(x / y)

