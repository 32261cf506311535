"""Zero-Cost-PT (``strategies/oneshot/zc_pt.py``): the per-edge rule, the validation of the candidates, and whole
searches on the digits task with real proxies."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

import nni_effnas.proxies as proxies
from nni_effnas.oneshot import search_oneshot
from nni_effnas.oneshot.search import OneShotSearch, SearchFailedError
from nni_effnas.search_spaces import get_space
from nni_effnas.strategies.oneshot import create_method
from nni_effnas.strategies.oneshot import zc_pt

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"channels": 4, "num_cells": 1}
RUN = dict(dataset="digits", limit=64, batch_size=16, model_kwargs=TINY)


def _module(seed: int = 0, **method_args) -> OneShotSearch:
    torch.manual_seed(seed)
    return OneShotSearch(space=get_space("nb201"), method=create_method("zc_pt", seed=seed, **method_args),
                         model_kwargs={**TINY, "in_channels": 3, "num_classes": 10})


def _batches():
    g = torch.Generator().manual_seed(0)
    return itertools.repeat((torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g)))


def test_each_edge_keeps_the_op_whose_removal_scores_lowest_and_a_nan_never_wins(monkeypatch):
    module = _module()
    labels = module.supernet.labels
    needed = {label: 1 + i % 4 for i, label in enumerate(labels)}  # never 'none' (index 0)
    seen = []

    def fake_score(net, name, *, inputs, targets, seed):
        label, index = module.method.removed
        seen.append((label, index, name, seed))
        if index == 0:
            return float("nan")  # lower than anything if a NaN compared as a number
        return 1.0 if index == needed[label] else 2.0 + index

    monkeypatch.setattr(proxies, "score", fake_score)
    selection = zc_pt.select_by_proxy(module, _batches())
    assert module.method.selected == needed and module.method.removed is None
    assert [entry["label"] for entry in selection] != labels  # a shuffled order
    assert sorted(entry["label"] for entry in selection) == sorted(labels)
    assert all(math.isnan(entry["score_without"]["none"]) for entry in selection)
    assert {name for _, _, name, _ in seen} == {"nwot"} and len(seen) == 5 * len(labels)
    names = module.supernet.op_names
    assert module.derived_sample() == {label: names[label][i] for label, i in needed.items()}


def test_an_edge_without_any_finite_score_is_a_clear_error(monkeypatch):
    module = _module()
    monkeypatch.setattr(proxies, "score", lambda *a, **k: float("inf"))
    with pytest.raises(SearchFailedError, match=r"zc_pt: proxy 'nwot' gave no finite score with any op of edge "
                                                r"'edge_\d_\d' removed \(the edges decided so far may cut the "
                                                r"input off: \{\}\)"):
        zc_pt.select_by_proxy(module, _batches())


def test_with_synflow_every_edge_keeps_the_3x3_convolution_and_params_cannot_tell_ops_apart():
    """Real proxies through the relaxed supernet: removing the 3x3 convolution costs synflow the most (its sum
    grows with the weights on the paths); the supernet's parameter count does not change when an op is removed."""
    module = _module(proxy="synflow")
    zc_pt.select_by_proxy(module, _batches())
    assert set(module.derived_sample().values()) == {"nor_conv_3x3"}
    with pytest.raises(ValueError, match=r"proxy 'params' scores every removal on edge 'edge_\d_\d' the same"):
        zc_pt.select_by_proxy(_module(proxy="params"), _batches())


def test_validation_sums_the_proxy_over_the_batches_on_fresh_networks_and_ranks_nan_last(monkeypatch):
    space = get_space("nb201")
    cells = {name: space.from_string(text) for name, text in (
        ("convs", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
        ("skips", "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"),
        ("pools", "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"))}
    kind = {space.to_string(sample): name for name, sample in cells.items()}
    per_batch = {"convs": 1.0, "skips": 2.0, "pools": float("nan")}
    built = []

    def fake_score(net, name, *, inputs, targets, seed):
        built.append(id(net))
        return per_batch[kind[net._arch]]

    real_build = space.build

    def tagged_build(sample, **kwargs):
        net = real_build(sample, **kwargs)
        net._arch = space.to_string(sample)
        return net

    monkeypatch.setattr(proxies, "score", fake_score)
    monkeypatch.setattr(space, "build", tagged_build)
    method = create_method("zc_pt", validate_batches=3)
    batches = [next(_batches())] * 3
    scores = zc_pt._validate(space, {space.to_string(s): s for s in cells.values()}, batches, method,
                             {**TINY, "in_channels": 3, "num_classes": 10}, torch.device("cpu"))
    by_name = {name: scores[space.to_string(s)] for name, s in cells.items()}
    assert by_name == {"convs": 3.0, "skips": 6.0, "pools": -math.inf}
    assert len(set(built)) == 3 and len(built) == 9  # one fresh network per candidate, scored on every batch


def test_a_whole_search_on_digits_is_deterministic_and_keeps_the_best_validated_candidate():
    first = search_oneshot(method="zc_pt", method_args={"pool_size": 3, "validate_batches": 2}, seed=1, **RUN)
    again = search_oneshot(method="zc_pt", method_args={"pool_size": 3, "validate_batches": 2}, seed=1, **RUN)
    assert first.arch == again.arch and first.extra["candidates"] == again.extra["candidates"]
    assert first.method == "zc_pt" and first.epochs == 0 and first.history == []
    candidates = first.extra["candidates"]
    assert [c["pass"] for c in candidates] == [0, 1, 2]
    assert len({c["arch"] for c in candidates}) == 3  # three distinct cells: the validation decides
    assert first.arch == max(candidates, key=lambda c: c["score"])["arch"]
    assert len(first.extra["selection"]) == 6 and first.extra["method_args"]["proxy"] == "nwot"
    assert first.sample == {e["label"]: e["selected"] for e in first.extra["selection"]}
    for entry in first.extra["selection"]:  # the kept op is the one whose removal scored lowest
        without = entry["score_without"]
        assert without[entry["selected"]] == min(v for v in without.values() if math.isfinite(v))


def test_training_settings_are_ignored_and_unknown_ones_rejected():
    args = {"pool_size": 1, "validate_batches": 1}
    plain = search_oneshot(method="zc_pt", method_args=args, **RUN)
    ignored = search_oneshot(method="zc_pt", method_args=args, epochs=7, callbacks=[object()], resume=False,
                             search_args={"a_lr": 1.0}, val_limit=5, **RUN)
    assert plain.arch == ignored.arch and plain.extra["candidates"][0]["arch"] == plain.arch
    with pytest.raises(TypeError, match="unexpected keyword argument.*colour"):
        search_oneshot(method="zc_pt", method_args=args, colour="red", **RUN)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"proxy": "magic"}, ValueError, "magic"),
    ({"pool_size": 0}, ValueError, "pool_size must be an int >= 1"),
    ({"validate_batches": 1.5}, ValueError, "validate_batches must be an int >= 1"),
])
def test_bad_method_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        create_method("zc_pt", **kwargs)


def test_a_gpu_request_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="accelerator='gpu' but torch sees no CUDA device"):
        search_oneshot(method="zc_pt", accelerator="gpu", **RUN)


def _darts_module() -> tuple[OneShotSearch, set[str]]:
    """A tiny DARTS-space Zero-Cost-PT search, and the edges its scripted scores need: node i's edges from node 0
    and from node i - 1."""
    torch.manual_seed(0)
    module = OneShotSearch(space=get_space("darts"), method=create_method("zc_pt", seed=0),
                           model_kwargs={"channels": 4, "layers": 3, "in_channels": 3, "num_classes": 10})
    names = module.supernet.op_names
    return module, {label for label in names if label.split("_")[1] in ("0", str(int(label.split("_")[2]) - 1))}


def test_in_the_darts_space_a_pass_selects_each_nodes_inputs_with_a_fresh_batch_per_node(monkeypatch):
    module, needed_edges = _darts_module()
    zc, names = module.method, module.supernet.op_names
    drawn = []

    def batches():
        while True:
            drawn.append(len(drawn))
            yield next(_batches())

    def fake_score(net, name, *, inputs, targets, seed):
        if zc.removed_edge is not None:
            return 1.0 if zc.removed_edge in needed_edges else 5.0
        label, index = zc.removed
        return 0.5 if names[label][index] == "sep_conv_5x5" else 3.0

    monkeypatch.setattr(proxies, "score", fake_score)
    zc_pt.select_by_proxy(module, batches())
    sample = module.derived_sample()
    for cell in ("normal", "reduce"):
        assert [sample[f"{cell}_{i}_inputs"] for i in (3, 4, 5)] == ["0_2", "0_3", "0_4"]
    assert {op for key, op in sample.items() if "_op" in key} == {"sep_conv_5x5"}
    assert len(drawn) == len(names) + 6  # one batch per edge, then one per node with a choice
    assert [d["without"] for d in zc.inputs][0] and all(len(d["kept"]) == 2 for d in zc.inputs)
    again = zc_pt.select_by_proxy(module, batches())  # a second pass starts afresh
    assert len(again) == len(names) and len(zc.inputs) == 6


def test_in_the_darts_space_an_edge_never_keeps_none(monkeypatch):
    """Removing ``none`` scripted to score lowest: in the DARTS space ``none`` is not a candidate (a genotype
    has no ``none``), so each edge keeps the next best op and the nodes' kept edges reach the derived cell."""
    module, needed_edges = _darts_module()
    zc, names = module.method, module.supernet.op_names

    def fake_score(net, name, *, inputs, targets, seed):
        if zc.removed_edge is not None:
            return 1.0 if zc.removed_edge in needed_edges else 5.0
        op = names[zc.removed[0]][zc.removed[1]]
        return {"none": 0.1, "dil_conv_3x3": 0.5}.get(op, 3.0)

    monkeypatch.setattr(proxies, "score", fake_score)
    selection = zc_pt.select_by_proxy(module, itertools.repeat(next(_batches())))
    assert {entry["selected"] for entry in selection} == {"dil_conv_3x3"}
    assert all("none" not in entry["score_without"] for entry in selection)
    sample = module.derived_sample()
    for cell in ("normal", "reduce"):
        assert [sample[f"{cell}_{i}_inputs"] for i in (3, 4, 5)] == ["0_2", "0_3", "0_4"]
    assert {op for key, op in sample.items() if "_op" in key} == {"dil_conv_3x3"}
