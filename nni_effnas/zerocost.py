"""Scoring architectures of a search space with zero-cost proxies: build, initialise, score, cache, account.

:class:`ZeroCostScorer` is what the ``zero-cost`` trial evaluator, the zero-cost strategies
(``strategies/zero_cost_pruning.py``, ``strategies/zero_cost_warmup.py``) and ``nni-effnas bench proxies`` share.
For one sample it builds the network with weights drawn from ``seed`` (the global RNG is left as it was), runs
each requested proxy (:mod:`nni_effnas.proxies`) on the proxy batch (:mod:`nni_effnas.proxy_data`) and
returns ``proxy -> score``. Scores go to an on-disk :class:`~nni_effnas.zc_cache.ScoreCache` keyed by
:meth:`ZeroCostScorer.setting`, the architecture and the proxy, with the seconds they took.

Accounting: :attr:`ZeroCostScorer.charged_s` is the compute every returned score cost, whether computed now or
read from the cache (then its recorded time), build time included; :attr:`ZeroCostScorer.computed_s` is the
part actually spent in this process. A simulated search charges ``charged_s`` to its clock, so a cache changes
how long a benchmark takes to run, never its result.

A proxy that raises on some network (or returns NaN/inf) gives ``nan`` for it with a warning, never a crash;
aggregation ranks NaN last.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from nni_effnas.checks import check_device
from nni_effnas.proxies import PROXIES, aggregate_ranks, proxy_names
from nni_effnas.proxy_data import Batch, ProxyData
from nni_effnas.zc_cache import BUILD, ScoreCache

_log = logging.getLogger(__name__)

#: Spaces whose network code this process has already imported (the first build of a space imports ``nni.nas``:
#: seconds that are not the sample's cost and must not be recorded as its build time).
_WARM_SPACES: set[str] = set()


class ZeroCostScorer:
    """Zero-cost scores of a search space's samples.

    Args:
        space: a registered search space name (``"nb201"``) or a ``SearchSpace``.
        proxies: names from :data:`nni_effnas.proxies.PROXIES`; with several, :meth:`rank` aggregates ranks.
        dataset: for NAS-Bench-201, the task (``cifar10``, ``cifar100``, ``imagenet16``): sets the classifier
            size and the proxy batch's input shape (:data:`nni_effnas.nb201.TASKS`).
        data: a :class:`ProxyData`, a source name (``"noise"``, ``"fashion-mnist"``) or the user's own
            ``(inputs, targets)`` batch (its bytes are hashed into the cache key). Default: ``"noise"``.
        batch_size: proxy batch size when ``data`` is a source name.
        model_kwargs: build arguments of the network (NB201: ``channels=16, num_cells=5`` by default, the
            benchmark's evaluation network).
        seed: seed of the network's initial weights and of the proxies' own randomness.
        cache: a :class:`ScoreCache`, a path to one, ``None`` for the default path, or ``False`` for none.
        device: where the networks run (``"cpu"``, ``"cuda"``).
    """

    def __init__(
        self,
        space: Any = "nb201",
        *,
        proxies: Sequence[str] = ("synflow",),
        dataset: str | None = None,
        data: ProxyData | str | Batch | None = None,
        batch_size: int = 64,
        model_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        cache: ScoreCache | str | bool | None = None,
        device: str = "cpu",
    ) -> None:
        from nni_effnas.search_spaces import SearchSpace, get_space

        self.space = get_space(space) if isinstance(space, str) else space
        if not isinstance(self.space, SearchSpace):
            raise TypeError(f"space must be a registered name or a SearchSpace, got {type(space).__name__}")
        self.proxies = proxy_names(proxies, owner="ZeroCostScorer")
        kwargs = dict(model_kwargs or {})
        num_classes, shape = self._task(dataset, kwargs)
        kwargs.setdefault("num_classes", num_classes)
        if self.space.name == "nb201":
            kwargs.setdefault("channels", 16)
            kwargs.setdefault("num_cells", 5)
        self.model_kwargs = kwargs
        self.seed = int(seed)
        self.device = check_device(device)
        if data is None or isinstance(data, str):
            data = ProxyData(source=data or "noise", batch_size=batch_size, shape=shape,
                             num_classes=kwargs["num_classes"], seed=self.seed)
        if isinstance(data, ProxyData):
            self.data_key = data.key()
            self._data: ProxyData | None = data
            self._batch: Batch | None = None
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            inputs = torch.as_tensor(data[0]).detach().cpu().float()
            targets = torch.as_tensor(data[1]).detach().cpu().long()
            digest = hashlib.sha1(inputs.numpy().tobytes() + targets.numpy().tobytes()).hexdigest()[:16]
            self.data_key = f"user:{digest}:{tuple(inputs.shape)}"
            self._data, self._batch = None, (inputs, targets)
        else:
            raise TypeError(f"data must be a ProxyData, a source name or an (inputs, targets) pair, got {type(data).__name__}")
        if cache is False:
            self.cache: ScoreCache | None = None
        elif isinstance(cache, ScoreCache):
            self.cache = cache
        else:
            self.cache = ScoreCache(None if cache in (None, True) else cache)
        self.charged_s = 0.0
        self.computed_s = 0.0
        self._memory: dict[str, dict[str, tuple[float, float]]] = {}
        self._paid: set[tuple[str, str]] = set()
        self._setting: str | None = None

    # ------------------------------------------------------------------------------------------------ setup
    def _task(self, dataset: str | None, kwargs: Mapping[str, Any]) -> tuple[int, tuple[int, int, int]]:
        if dataset is not None:
            from nni_effnas.nb201 import TASKS, canonical_dataset

            if self.space.name != "nb201":
                raise ValueError(f"dataset={dataset!r} names a NAS-Bench-201 task; for space {self.space.name!r} "
                                 "pass model_kwargs and a data batch instead")
            return TASKS[canonical_dataset(dataset)]
        channels = int(kwargs.get("in_channels", 3))
        return int(kwargs.get("num_classes", 10)), (channels, 32, 32)

    def setting(self) -> str:
        """The cache key of everything but the architecture and the proxy (fixed at construction)."""
        if self._setting is None:
            self._setting = json.dumps({"space": self.space.name, "model": self.model_kwargs, "data": self.data_key,
                                        "seed": self.seed, "torch": torch.__version__.split("+")[0]}, sort_keys=True)
        return self._setting

    def batch(self) -> Batch:
        """The proxy batch, made on first use; making it (e.g. reading Fashion-MNIST) is charged once."""
        if self._batch is None:
            assert self._data is not None
            start = time.perf_counter()
            self._batch = self._data.make()
            spent = time.perf_counter() - start
            self.charged_s += spent
            self.computed_s += spent
        return self._batch

    def build(self, sample: Mapping[str, Any]) -> torch.nn.Module:
        """The network of ``sample`` with weights from ``seed``; the global RNG state is restored afterwards."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self.space.build(sample, **self.model_kwargs)
        return model.to(self.device)

    # ------------------------------------------------------------------------------------------------ score
    def score(self, sample: Mapping[str, Any], proxies: Iterable[str] | None = None) -> dict[str, float]:
        """``proxy -> score`` of one sample (cached when possible); adds its cost to :attr:`charged_s`."""
        names = self.proxies if proxies is None else tuple(PROXIES.canonical(p) for p in proxies)
        arch = self.space.to_string(sample)
        found = dict(self._memory.get(arch, {}))
        missing = [n for n in (BUILD, *names) if n not in found]
        if missing and self.cache is not None:
            found.update(self.cache.get(self.setting(), arch, missing))
            missing = [n for n in (BUILD, *names) if n not in found]
        if missing:
            fresh = self._compute(sample, [n for n in missing if n != BUILD])
            found.update(fresh)  # a rebuild for new proxies replaces the cached build time
            if self.cache is not None:
                self.cache.put(self.setting(), arch, fresh)
        self._memory[arch] = found
        # Each (architecture, proxy) is charged once per scorer: a real search would keep its scores too.
        unpaid = [n for n in (BUILD, *names) if (arch, n) not in self._paid]
        self.charged_s += sum(found[n][1] for n in unpaid)
        self._paid.update((arch, n) for n in unpaid)
        return {n: found[n][0] for n in names}

    def recorded(self, sample: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
        """``name -> (value, seconds)`` of everything scored for ``sample`` so far, the build time under
        :data:`~nni_effnas.zc_cache.BUILD` (empty if never scored by this scorer)."""
        return dict(self._memory.get(self.space.to_string(sample), {}))

    def _compute(self, sample: Mapping[str, Any], names: Sequence[str]) -> dict[str, tuple[float, float]]:
        if self.space.name not in _WARM_SPACES:  # untimed: one-off imports and lazy initialisation
            self.build(sample)
            _WARM_SPACES.add(self.space.name)
        inputs, targets = self.batch()
        start = time.perf_counter()
        model = self.build(sample)
        out = {BUILD: (float("nan"), time.perf_counter() - start)}
        for name in names:
            t0 = time.perf_counter()
            try:
                value = float(PROXIES.get(name)(model, inputs=inputs, targets=targets, seed=self.seed))
            except Exception as exc:  # noqa: BLE001 - a proxy failing on one network must not stop a search
                _log.warning("proxy %s failed on %s: %s", name, self.space.to_string(sample), exc)
                value = float("nan")
            out[name] = (value if math.isfinite(value) else float("nan"), time.perf_counter() - t0)
        self.computed_s += sum(seconds for _, seconds in out.values())  # the same sum charged_s adds
        return out

    def score_many(
        self, samples: Sequence[Mapping[str, Any]], *, progress: Callable[[int], None] | None = None
    ) -> dict[str, np.ndarray]:
        """``proxy -> array`` of scores for ``samples`` in order; ``progress(i)`` after each."""
        columns: dict[str, list[float]] = {n: [] for n in self.proxies}
        for i, sample in enumerate(samples):
            for name, value in self.score(sample).items():
                columns[name].append(value)
            if progress is not None:
                progress(i)
        return {n: np.asarray(v, dtype=np.float64) for n, v in columns.items()}

    def rank(self, samples: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One higher-is-better value per sample: the proxy's score (NaN ranked last), or with several proxies
        their mean rank among ``samples`` (:func:`~nni_effnas.proxies.aggregate_ranks`)."""
        if not samples:
            return np.zeros(0)
        scores = self.score_many(samples)
        if len(scores) == 1:
            values = next(iter(scores.values()))
            return np.where(np.isnan(values), -np.inf, values)
        return aggregate_ranks(scores)

    # ------------------------------------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, float]:
        return {"charged_s": self.charged_s, "computed_s": self.computed_s}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.charged_s = float(state.get("charged_s", 0.0))
        self.computed_s = float(state.get("computed_s", 0.0))
