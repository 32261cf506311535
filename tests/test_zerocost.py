"""Tests for ``nni_effnas.zerocost`` and ``nni_effnas.zc_cache``: scores equal the proxies run by hand, the on-disk
cache and its accounting, RNG hygiene, rank aggregation, failing proxies and bad input. Networks are small
(4 channels, 1 cell per stage) and batches tiny, so each test takes a second or two on a CPU."""
from __future__ import annotations

import logging
import math
import sqlite3

import numpy as np
import pytest
import torch

from nni_effnas.proxies import PROXIES, aggregate_ranks, score
from nni_effnas.search_spaces import get_space
from nni_effnas.zc_cache import BUILD, ScoreCache
from nni_effnas.zerocost import ZeroCostScorer

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"channels": 4, "num_cells": 1}
SPACE = get_space("nb201")
CONV_HEAVY = SPACE.from_string(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
POOLS = SPACE.from_string("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
MIXED = SPACE.from_string("|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")


def scorer(tmp_path, name="c.sqlite", **kwargs):
    kwargs.setdefault("proxies", ("synflow", "nwot", "params"))
    kwargs.setdefault("dataset", "cifar10")
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("model_kwargs", SMALL)
    kwargs.setdefault("cache", tmp_path / name)
    return ZeroCostScorer("nb201", **kwargs)


def test_scores_equal_the_proxies_run_by_hand(tmp_path):
    zc = scorer(tmp_path, seed=2)
    got = zc.score(CONV_HEAVY)
    with torch.random.fork_rng():
        torch.manual_seed(2)
        model = SPACE.build(CONV_HEAVY, num_classes=10, **SMALL)
    inputs, targets = zc.batch()
    assert inputs.shape == (4, 3, 32, 32)
    for name in ("synflow", "nwot", "params"):
        assert got[name] == score(model, name, inputs=inputs, targets=targets, seed=2)
    assert zc.model_kwargs == {"channels": 4, "num_cells": 1, "num_classes": 10}


def test_second_scorer_reads_the_cache_and_is_charged_the_recorded_time(tmp_path):
    first = scorer(tmp_path)
    a = first.score_many([CONV_HEAVY, POOLS])
    assert first.charged_s > 0 and first.computed_s > 0
    assert first.cache.count(first.setting()) == 2 * 4  # 3 proxies + the build, per cell

    second = scorer(tmp_path)
    b = second.score_many([CONV_HEAVY, POOLS])
    assert second.computed_s == 0
    recorded = sum(sec for entry in first._memory.values() for _, sec in entry.values())
    assert second.charged_s == pytest.approx(recorded)  # the cells' recorded compute...
    assert first.charged_s - recorded >= 0  # ...the first also paid for making the proxy batch, once
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_each_arch_and_proxy_is_charged_once_per_scorer(tmp_path):
    zc = scorer(tmp_path, proxies=("synflow", "params"), cache=False)
    zc.score(MIXED)
    charged, computed = zc.charged_s, zc.computed_s
    assert charged > 0
    zc.score(MIXED)
    zc.score(MIXED, proxies=["synflow"])
    assert (zc.charged_s, zc.computed_s) == (charged, computed)
    zc.score(MIXED, proxies=["nwot"])  # a new proxy: computed and charged, the build is not charged again
    assert zc.charged_s > charged and zc.computed_s > computed
    assert zc._memory[SPACE.to_string(MIXED)]["nwot"][1] == pytest.approx(zc.charged_s - charged)


def test_a_different_seed_is_a_different_cache_setting(tmp_path):
    zero, one = scorer(tmp_path, seed=0), scorer(tmp_path, seed=1)
    assert zero.setting() != one.setting()
    assert scorer(tmp_path, seed=0).setting() == zero.setting()
    zero.score(POOLS, proxies=["params"])
    one.score(POOLS, proxies=["params"])
    assert one.computed_s > 0  # not read from the seed-0 rows
    assert zero.cache.count(zero.setting()) == zero.cache.count(one.setting()) == 2


def test_score_leaves_the_global_rng_alone(tmp_path):
    zc = scorer(tmp_path, cache=False)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    zc.score(CONV_HEAVY)
    assert torch.equal(torch.get_rng_state(), state)


def test_rank_with_several_proxies_is_aggregate_ranks(tmp_path):
    zc = scorer(tmp_path, proxies=("synflow", "params"))
    samples = [CONV_HEAVY, POOLS, MIXED]
    columns = zc.score_many(samples)
    np.testing.assert_array_equal(zc.rank(samples), aggregate_ranks(columns))
    single = scorer(tmp_path, proxies=("params",))
    np.testing.assert_array_equal(single.rank(samples), columns["params"])
    assert single.rank([]).shape == (0,)


def test_a_proxy_that_raises_gives_nan_with_a_warning(tmp_path, monkeypatch, caplog):
    def broken(model, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(PROXIES._items, "grad_norm", broken)
    zc = scorer(tmp_path, proxies=("params", "grad_norm"))
    with caplog.at_level(logging.WARNING, logger="nni_effnas.zerocost"):
        got = zc.score(POOLS)
    assert math.isnan(got["grad_norm"]) and got["params"] > 0
    assert "proxy grad_norm failed on" in caplog.text and "boom" in caplog.text
    cached = scorer(tmp_path, proxies=("grad_norm",))
    assert math.isnan(cached.score(POOLS)["grad_norm"]) and cached.computed_s == 0  # cached as NULL
    assert cached.rank([POOLS]).tolist() == [-np.inf]  # NaN ranks last


def test_an_infinite_score_becomes_nan(tmp_path, monkeypatch):
    monkeypatch.setitem(PROXIES._items, "grad_norm", lambda model, **kwargs: float("inf"))
    assert math.isnan(scorer(tmp_path, proxies=("grad_norm",), cache=False).score(POOLS)["grad_norm"])


def test_unknown_proxy_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown proxy 'synflo'.*synflow"):
        scorer(tmp_path, proxies=("synflo",))
    with pytest.raises(ValueError, match="at least one proxy"):
        scorer(tmp_path, proxies="")


def test_a_cache_file_that_is_not_sqlite_is_a_value_error(tmp_path):
    bad = tmp_path / "c.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a usable SQLite file"):
        scorer(tmp_path)


def test_a_user_batch_works_and_has_its_own_key(tmp_path):
    generator = torch.Generator().manual_seed(5)
    inputs, targets = torch.randn(4, 3, 32, 32, generator=generator), torch.randint(0, 10, (4,), generator=generator)
    user = scorer(tmp_path, data=(inputs, targets.int()))
    noise = scorer(tmp_path)
    assert user.data_key.startswith("user:") and user.setting() != noise.setting()
    got = user.score(MIXED)
    assert got["params"] == noise.score(MIXED)["params"] and math.isfinite(got["nwot"])
    again = scorer(tmp_path, data=(inputs.clone(), targets.clone()))
    assert again.data_key == user.data_key  # the same bytes, the same key
    assert scorer(tmp_path, data=(inputs + 1, targets)).data_key != user.data_key
    with pytest.raises(TypeError, match="data must be"):
        scorer(tmp_path, data=42)


def test_score_cache_put_get_and_atomic_put(tmp_path):
    cache = ScoreCache(tmp_path / "c.sqlite")
    cache.put("s", "a", {"p": (1.5, 0.25), "q": (float("nan"), 0.5)})
    got = cache.get("s", "a", ["p", "q", "absent"])
    assert got["p"] == (1.5, 0.25) and math.isnan(got["q"][0]) and "absent" not in got
    # SQLite stores a NaN REAL as NULL, so a NaN *seconds* breaks the NOT NULL constraint mid-batch:
    # the whole put is rolled back, the earlier row of the same call included.
    with pytest.raises(sqlite3.IntegrityError):
        cache.put("s", "b", {"p": (1.0, 0.1), "q": (2.0, float("nan"))})
    assert cache.get("s", "b", ["p", "q"]) == {}
    assert cache.count() == 2 and cache.count("s") == 2 and cache.count("other") == 0
    cache.close()


def test_build_rows_are_cached_with_the_scores(tmp_path):
    zc = scorer(tmp_path, proxies=("params",))
    zc.score(MIXED)
    rows = zc.cache.get(zc.setting(), SPACE.to_string(MIXED), [BUILD, "params"])
    assert set(rows) == {BUILD, "params"} and math.isnan(rows[BUILD][0]) and rows[BUILD][1] > 0


@pytest.mark.parametrize("device, message", [
    ("bogus", "device 'bogus' is not a torch device; expected e.g. cpu, cuda or cuda:0"),
    pytest.param("cuda", "torch sees no CUDA GPU", marks=pytest.mark.skipif(torch.cuda.is_available(),
                                                                             reason="this machine has a GPU")),
])
def test_a_device_this_machine_lacks_is_a_one_line_error(tmp_path, device, message):
    with pytest.raises(ValueError, match=message):
        ZeroCostScorer("nb201", proxies=("synflow",), device=device, cache=False)
