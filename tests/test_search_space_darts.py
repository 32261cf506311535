"""Tests for ``nni_effnas.search_spaces.darts``: the DARTS space, its networks, conversions and one-shot interface."""
from __future__ import annotations

import ast
import json
import re
import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import SHARED_DATA, drive

from nni_effnas.search_spaces import SPACES, get_space  # first: applies nni_effnas.compat
from nni_effnas.search_spaces.darts import DartsSpace
from nni_effnas.search_spaces.darts_genotype import (
    CELL_OPS, DARTS_V2, EDGE_LABELS, NODES, OPS, Genotype, cell_nodes,
)
from nni_effnas.search_spaces.darts_nb301 import YAHPO_CAT_NAMES, edge_index, from_compact, to_compact, yahpo_encoding
from nni_effnas.search_spaces.darts_network import (
    DartsModelSpace, DartsSupernet, DilConv, FactorizedReduce, SepConv, Zero, count_parameters, make_op,
)
from nni_effnas.search_spaces.nb201 import NB201Space
from nni_effnas.space import CategoricalSpace
from nni_effnas.strategies import create_strategy
from nni.nas.nn.pytorch import LayerChoice  # noqa: I001  (after nni_effnas, whose import filters NNI's warnings)
from nni.nas.space import model_context

pytestmark = pytest.mark.usefixtures("one_thread")

NB301_DATA = SHARED_DATA / "nb301-yahpo-surrogate"
NASLIB_NB301 = SHARED_DATA / "nb101-nb301-naslib-zerocost" / "zc_nasbench301_subset.json"
# DARTS_V2 exactly as printed by the authors' code (cnn/genotypes.py)
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
TINY = {"channels": 4, "layers": 3}


@pytest.fixture(scope="module")
def space() -> DartsSpace:
    return DartsSpace()


@pytest.fixture(scope="module")
def v2(space: DartsSpace) -> dict:
    return space.from_genotype(DARTS_V2)


def _samples(space: DartsSpace, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [space.categorical().sample(rng) for _ in range(n)]


def _expected_params(sample: dict, *, channels: int, layers: int, num_classes: int, in_channels: int) -> int:
    """Closed form of the evaluation network's parameter count (affine BN, classifier; no auxiliary head)."""
    def op(name: str, c: int, stride: int) -> int:
        k = int(name[-1]) if "conv" in name else 0
        dil = c * k * k + c * c + 2 * c
        factorized_reduce = c * c + 2 * c if name == "skip_connect" and stride == 2 else 0
        return {"sep": 2 * dil, "dil": dil}.get(name[:3], factorized_reduce)

    stem = 3 * channels
    total = in_channels * stem * 9 + 2 * stem
    c_pp, c_p, c = stem, stem, channels
    for index in range(layers):
        red = index in (layers // 3, 2 * layers // 3)
        c = 2 * c if red else c
        total += (c_pp * c + 2 * c) + (c_p * c + 2 * c)  # preprocess (FactorizedReduce has the same count)
        for node in cell_nodes(sample, "reduce" if red else "normal"):
            total += sum(op(name, c, 2 if red and src < 2 else 1) for name, src in node)
        c_pp, c_p = c_p, 4 * c
    return total + c_p * num_classes + num_classes


# -- registry and categorical view ---------------------------------------------------------------------------
def test_registry_returns_the_class() -> None:
    assert SPACES.get("darts") is DartsSpace
    assert isinstance(get_space("darts"), DartsSpace)
    assert DartsSpace.name == "darts"


def test_categorical_space_is_flat_and_unconditional(space: DartsSpace) -> None:
    cat = space.categorical()
    assert cat.labels[:5] == ("normal_2_op0", "normal_2_op1", "normal_3_inputs", "normal_3_op0", "normal_3_op1")
    assert len(cat.labels) == 22 and sum(label.startswith("reduce_") for label in cat.labels) == 11
    choices = cat.as_dict()
    assert choices["normal_5_inputs"] == ("0_1", "0_2", "0_3", "0_4", "1_2", "1_3", "1_4", "2_3", "2_4", "3_4")
    assert all(choices[label] == CELL_OPS for label in cat.labels if "_op" in label)
    assert "none" not in CELL_OPS and len(CELL_OPS) == 7
    assert cat.size == (7 ** 8 * 3 * 6 * 10) ** 2
    assert all(spec["_type"] == "choice" for spec in cat.to_nni().values())
    assert CategoricalSpace.from_nni(cat.to_nni()) == cat


def test_categorical_equals_the_model_space_mutables(space: DartsSpace) -> None:
    mutables = space.model_space(**TINY).simplify()
    assert list(mutables) == list(space.categorical().labels)  # shared by all cells, in the view's order
    derived = CategoricalSpace.from_dict({label: m.values for label, m in mutables.items()})
    assert derived == space.categorical()
    assert {label: m.as_legacy_dict() for label, m in mutables.items()} == space.categorical().to_nni()


def test_model_space_ops_are_layer_choices_with_shared_labels() -> None:
    model_space = DartsModelSpace(channels=4, layers=4)
    assert model_space(torch.randn(2, 3, 16, 16)).shape == (2, 10)  # the dry run: first choices
    choices = [m for m in model_space.modules() if isinstance(m, LayerChoice)]
    assert {type(m) for m in choices} == {LayerChoice}
    assert all(list(m.names) == list(CELL_OPS) for m in choices)
    assert {m.label for m in choices} == {f"{t}_{i}_op{s}" for t in ("normal", "reduce") for i in NODES for s in (0, 1)}


@pytest.mark.parametrize("name", ["random", "regularized_evolution", "nni_tpe", "nni_evolution", "optuna_tpe",
                                  "predictor_guided", "pnas"])
def test_strategies_propose_valid_samples(space: DartsSpace, name: str) -> None:
    """NNI's TPE and the others work on the flat view (NNI's TPE cannot handle InputChoice)."""
    cat = space.categorical()
    extra = {"predictor_args": {"epochs": 20}} if name in ("predictor_guided", "pnas") else {}
    proposals = drive(create_strategy(name, seed=3, **extra), cat, 25,
                      lambda s: sum(v == "sep_conv_3x3" for v in s.values()))
    assert len(proposals) == 25
    assert all(cat.validate(s) == s for s in proposals)
    assert len({cat.key(s) for s in proposals}) > 20


# -- genotypes and text forms ----------------------------------------------------------------------------------
def test_darts_v2_round_trips(space: DartsSpace, v2: dict) -> None:
    assert space.from_string(DARTS_V2_TEXT) == v2
    assert space.from_string(space.to_string(v2)) == v2
    assert space.from_string(repr(space.genotype(v2))) == v2
    assert space.to_string(v2) == (
        "normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+|skip_connect~0|sep_conv_3x3~1|+"
        "|skip_connect~0|dil_conv_3x3~2|;reduce=|max_pool_3x3~0|max_pool_3x3~1|+|max_pool_3x3~1|skip_connect~2|+"
        "|max_pool_3x3~0|skip_connect~2|+|max_pool_3x3~1|skip_connect~2|"
    )
    genotype = space.genotype(v2)
    for cell in ("normal", "reduce"):  # the published genotype up to the order of a node's two inputs
        ours, published = getattr(genotype, cell), getattr(DARTS_V2, cell)
        assert [set(ours[n:n + 2]) for n in range(0, 8, 2)] == [set(published[n:n + 2]) for n in range(0, 8, 2)]
    assert repr(genotype).startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")
    assert genotype.normal_concat == range(2, 6)


def test_darts_v2_has_the_papers_parameter_count(space: DartsSpace, v2: dict) -> None:
    """Paper: 3.3 M at C=36, 20 cells; the reference code logs 'param size = 3.349342MB' (no auxiliary head)."""
    kwargs = {"channels": 36, "layers": 20, "num_classes": 10, "in_channels": 3}
    count = count_parameters(space.build(v2, **{k: kwargs[k] for k in ("channels", "layers")}))
    assert count == 3_349_342 == _expected_params(v2, **kwargs)
    assert abs(count / 1e6 - 3.3) < 0.1


@pytest.mark.parametrize("seed", [0, 1])
def test_random_samples_round_trip(space: DartsSpace, seed: int) -> None:
    for sample in _samples(space, 100, seed):
        assert space.from_string(space.to_string(sample)) == sample
        assert space.from_string(repr(space.genotype(sample))) == sample
        assert space.from_genotype(space.genotype(sample)) == sample
        assert from_compact(to_compact(sample)) == sample
        assert from_compact(str([list(cell) for cell in to_compact(sample)])) == sample


def test_input_order_within_a_node_is_normalised(space: DartsSpace, v2: dict) -> None:
    swapped = Genotype(normal=[DARTS_V2.normal[1], DARTS_V2.normal[0], *DARTS_V2.normal[2:]],
                       normal_concat=range(2, 6), reduce=DARTS_V2.reduce, reduce_concat=(2, 3, 4, 5))
    assert space.from_genotype(swapped) == v2
    text = space.to_string(v2).replace("|sep_conv_3x3~0|sep_conv_3x3~1|", "|sep_conv_3x3~1|sep_conv_3x3~0|", 1)
    assert space.from_string(text) == v2


OWN = ("normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+|skip_connect~0|sep_conv_3x3~1|+"
       "|skip_connect~0|dil_conv_3x3~2|;reduce=|max_pool_3x3~0|max_pool_3x3~1|+|max_pool_3x3~1|skip_connect~2|+"
       "|max_pool_3x3~0|skip_connect~2|+|max_pool_3x3~1|skip_connect~2|")


@pytest.mark.parametrize(("text", "named"), [
    ("", "''"),
    ("sep_conv_3x3", "'sep_conv_3x3'"),
    (OWN.split(";")[0], "normal="),  # no reduction cell
    (OWN.replace("+|skip_connect~0|dil_conv_3x3~2|", ""), "malformed normal cell"),  # three nodes
    (OWN.replace("normal=|", "normal="), "malformed normal cell"),
    (OWN.replace("dil_conv_3x3", "conv_7x1"), "'conv_7x1'"),
    (OWN.replace("dil_conv_3x3~2", "dil_conv_3x3~5"), "normal node 5 reads node 5"),
    (OWN.replace("dil_conv_3x3~2", "dil_conv_3x3~0"), "normal node 5 reads node 0 twice"),
    (OWN.replace("max_pool_3x3~1|+", "none~1|+", 1), "reduce node 2 uses 'none'"),
    (DARTS_V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 7)"), "normal_concat is range(2, 7)"),
    (DARTS_V2_TEXT.replace("('dil_conv_3x3', 2)]", "]"), "normal must list 8"),
    (DARTS_V2_TEXT.replace(", reduce_concat=[2, 3, 4, 5]", ""), "missing field 'reduce_concat'"),
    (DARTS_V2_TEXT.replace("normal_concat=", "normal_concot="), "'normal_concot'"),
    (DARTS_V2_TEXT.replace("[2, 3, 4, 5])", "__import__('os'))"), "not a literal"),
    (DARTS_V2_TEXT[:-1], "not a Python expression"),
])
def test_malformed_strings_raise_naming_the_bad_part(space: DartsSpace, text: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)) as info:
        space.from_string(text)
    assert "\n" not in str(info.value)


def test_from_string_rejects_non_strings_and_from_genotype_non_genotypes(space: DartsSpace) -> None:
    with pytest.raises(ValueError, match="malformed"):
        space.from_string(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Genotype"):
        space.from_genotype({"normal": []})


@pytest.mark.parametrize("method", ["to_string", "genotype", "build", "to_nb301"])
def test_bad_samples_raise_naming_the_value(space: DartsSpace, v2: dict, method: str) -> None:
    call = getattr(space, method)
    with pytest.raises(ValueError, match="'none'.*'normal_2_op0'"):
        call({**v2, "normal_2_op0": "none"})
    with pytest.raises(ValueError, match="'3_4'.*'reduce_4_inputs'"):
        call({**v2, "reduce_4_inputs": "3_4"})
    with pytest.raises(ValueError, match="'reduce_5_op1'"):
        call({k: v for k, v in v2.items() if k != "reduce_5_op1"})


# -- NAS-Bench-301 -----------------------------------------------------------------------------------------------
def test_nb301_config_of_darts_v2(space: DartsSpace, v2: dict) -> None:
    config = space.to_nb301(v2)
    p = "NetworkSelectorDatasetInfo:darts:"
    assert len(config) == 22
    assert config[f"{p}edge_normal_0"] == config[f"{p}edge_normal_1"] == "sep_conv_3x3"
    assert config[f"{p}inputs_node_normal_4"] == "0_1" and config[f"{p}edge_normal_5"] == "skip_connect"
    assert config[f"{p}inputs_node_normal_5"] == "0_2" and config[f"{p}edge_normal_11"] == "dil_conv_3x3"
    assert config[f"{p}inputs_node_reduce_3"] == "1_2" and config[f"{p}edge_reduce_4"] == "skip_connect"
    assert [edge_index(j, 5) for j in range(5)] == [9, 10, 11, 12, 13]


@pytest.mark.skipif(not (NB301_DATA / "config_space_v2.json").is_file(), reason="shared NB301 data not present")
def test_nb301_configs_satisfy_the_shipped_config_space(space: DartsSpace) -> None:
    """Against YAHPO's ConfigSpace: every value a legal choice, exactly the active conditional edges present."""
    cs = json.loads((NB301_DATA / "config_space_v2.json").read_text())
    legal = {h["name"]: h.get("choices") for h in cs["hyperparameters"]}
    conditions = {c["child"]: (c["parent"], c["values"]) for c in cs["conditions"]}
    for sample in _samples(space, 200, seed=301):
        config = space.to_nb301(sample, yahpo_names=True)
        assert all(value in legal[name] for name, value in config.items())
        for name in legal:
            if name == "epoch":
                continue
            active = name not in conditions or config.get(conditions[name][0]) in conditions[name][1]
            assert (name in config) == active, name
        assert space.from_nb301({**config, "epoch": 50}) == sample
        assert space.from_nb301(space.to_nb301(sample)) == sample


@pytest.mark.skipif(not NASLIB_NB301.is_file(), reason="shared NASLib NB301 data not present")
def test_naslib_nb301_archs_convert_and_round_trip(space: DartsSpace) -> None:
    archs = list(json.loads(NASLIB_NB301.read_text())["cifar10"])[:60]
    for text in archs:
        compact = ast.literal_eval(text)
        sample = from_compact(text)
        canonical = tuple(tuple(p for n in range(4) for p in sorted(cell[2 * n:2 * n + 2])) for cell in compact)
        assert to_compact(sample) == canonical
        assert space.from_nb301(space.to_nb301(sample)) == sample
        assert space.from_string(space.to_string(sample)) == sample


P = "NetworkSelectorDatasetInfo:darts:"


@pytest.mark.parametrize(("change", "named"), [
    (lambda c: c.pop(P + "inputs_node_normal_4"), "inputs_node_normal_4 = None"),
    (lambda c: c.update({P + "inputs_node_reduce_3": "2_3"}), "'2_3'"),
    (lambda c: c.pop(P + "edge_normal_5"), "active edge 'edge_normal_5'"),
    (lambda c: c.update({P + "edge_normal_7": "skip_connect"}), "inactive edge 'edge_normal_7'"),
    (lambda c: c.update({P + "edge_normal_14": "skip_connect"}), f"'{P}edge_normal_14'"),
    (lambda c: c.update({P + "edge_normal_0": "conv_3x3"}), "'conv_3x3'"),
])
def test_bad_nb301_configs_raise_naming_the_key(space: DartsSpace, v2: dict, change, named: str) -> None:
    config = space.to_nb301(v2)
    change(config)
    with pytest.raises(ValueError, match=re.escape(named)):
        space.from_nb301(config)


def test_bad_compact_raises(space: DartsSpace) -> None:
    with pytest.raises(ValueError, match="op indices"):
        from_compact([[(0, 7)] * 8, [(0, 0)] * 8])
    with pytest.raises(ValueError, match="malformed NASLib"):
        from_compact("[[(0, 0)")


def test_surrogate_inputs(space: DartsSpace, v2: dict) -> None:
    x_cat, x_cont = space.nb301_surrogate_inputs(v2, 98)
    assert x_cat.shape == (1, 34) and x_cat.dtype == np.int32
    assert x_cont.tolist() == [[98.0]] and x_cont.dtype == np.float32
    assert (x_cat[0, :28] == 0).sum() == 12  # 12 of the 28 edges inactive
    codes = yahpo_encoding()
    assert x_cat[0, YAHPO_CAT_NAMES.index("NetworkSelectorDatasetInfo_COLON_darts_COLON_edge_normal_0")] == \
        codes["NetworkSelectorDatasetInfo_COLON_darts_COLON_edge_normal_0"]["sep_conv_3x3"] == 5
    for bad, error in ((0, ValueError), (99, ValueError), (1.5, TypeError)):
        with pytest.raises(error, match=re.escape(repr(bad))):
            space.nb301_surrogate_inputs(v2, bad)  # type: ignore[arg-type]


@pytest.mark.skipif(not (NB301_DATA / "encoding_v2.json").is_file(), reason="shared NB301 data not present")
def test_yahpo_encoding_is_the_shipped_table() -> None:
    assert yahpo_encoding() == json.loads((NB301_DATA / "encoding_v2.json").read_text())
    assert set(YAHPO_CAT_NAMES) | {"epoch"} == {h["name"] for h in json.loads(
        (NB301_DATA / "config_space_v2.json").read_text())["hyperparameters"]}


@pytest.mark.skipif(not (NB301_DATA / "model_v2.onnx").is_file(), reason="shared NB301 surrogate not present")
def test_yahpo_surrogate_scores_darts_v2_and_ranks_naslib_archs(space: DartsSpace, v2: dict) -> None:
    rt = pytest.importorskip("onnxruntime")
    from scipy.stats import spearmanr

    options = rt.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = rt.InferenceSession(str(NB301_DATA / "model_v2.onnx"), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def predict(samples: list[dict], epoch: int) -> np.ndarray:
        x_cat, x_cont = (np.vstack(parts) for parts in zip(*(space.nb301_surrogate_inputs(s, epoch) for s in samples)))
        return session.run(None, {names[0]: x_cat, names[1]: x_cont})[0][:, 0]  # column 0: val_accuracy (0..1)

    early, late = predict([v2], 5)[0], predict([v2], 98)[0]
    assert 0.88 < late < 0.97 and early < late
    if NASLIB_NB301.is_file():
        records = json.loads(NASLIB_NB301.read_text())["cifar10"]
        keys = list(records)[:150]
        rho = spearmanr(predict([from_compact(k) for k in keys], 98), [records[k]["val_accuracy"] for k in keys])
        assert rho.statistic > 0.4  # NASLib's values come from NB301's own surrogate, not YAHPO's


# -- fixed networks ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("size", [32, 16, 15])  # 15: odd sizes run (FactorizedReduce pads its shifted path)
def test_built_network_output_shape(space: DartsSpace, v2: dict, in_channels: int, size: int) -> None:
    model = space.build(v2, **TINY, num_classes=7, in_channels=in_channels)
    out = model(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


def test_a_built_network_moves_and_casts_like_any_module(space: DartsSpace, v2: dict) -> None:
    """``.to()``, ``.double()`` and ``.cuda()`` go through ``nn.Module._apply``, which no node may shadow."""
    model = space.build(v2, **TINY).to(torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model(torch.randn(2, 3, 16, 16, dtype=torch.float64)).dtype == torch.float64


def test_build_is_a_fixed_network_with_the_genotype_in_every_cell(space: DartsSpace, v2: dict) -> None:
    model = space.build(v2, channels=4, layers=5)
    assert not any(isinstance(m, LayerChoice) for m in model.modules())
    assert model.simplify() == {}
    assert [cell.cell for cell in model.cells] == ["normal", "reduce", "normal", "reduce", "normal"]
    for cell in model.cells:
        red = cell.cell == "reduce"
        for node, ((op_j, j), (op_k, k)) in zip(cell.nodes, cell_nodes(v2, cell.cell)):
            assert node.inputs == (j, k)
            for module, name, src in ((node.op0, op_j, j), (node.op1, op_k, k)):
                expected = make_op(name, 8, stride=2 if red and src < 2 else 1)
                assert type(module) is type(expected)
    reduce_node_3 = model.cells[1].nodes[1]  # max_pool on node 1 (stride 2), skip_connect on node 2 (stride 1)
    assert isinstance(reduce_node_3.op0, nn.MaxPool2d) and reduce_node_3.op0.stride == 2
    assert isinstance(reduce_node_3.op1, nn.Identity)
    assert isinstance(model.cells[1].nodes[0].op0, nn.MaxPool2d)
    assert isinstance(model.cells[2].preprocess0, FactorizedReduce)  # after a reduction


def test_freeze_and_build_give_the_same_network(space: DartsSpace) -> None:
    sample = _samples(space, 1, seed=5)[0]
    frozen = space.model_space(**TINY, num_classes=5).freeze(sample)
    built = space.build(sample, **TINY, num_classes=5)
    assert frozen.simplify() == {} and frozen.state_dict().keys() == built.state_dict().keys()
    built.load_state_dict(frozen.state_dict())
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(frozen.eval()(x), built.eval()(x))


@pytest.mark.parametrize(("channels", "layers", "num_classes", "in_channels"), [(4, 3, 10, 3), (6, 5, 100, 1)])
def test_parameter_count_follows_the_genotype(space: DartsSpace, channels: int, layers: int, num_classes: int,
                                              in_channels: int) -> None:
    kwargs = dict(channels=channels, layers=layers, num_classes=num_classes, in_channels=in_channels)
    for sample in _samples(space, 4, seed=channels):
        assert count_parameters(space.build(sample, **kwargs)) == _expected_params(sample, **kwargs)


def test_affine_is_a_constructor_option(space: DartsSpace, v2: dict) -> None:
    def cell_bns(model: nn.Module) -> list[nn.BatchNorm2d]:
        return [m for m in model.cells.modules() if isinstance(m, nn.BatchNorm2d)]

    assert all(bn.affine for bn in cell_bns(space.build(v2, **TINY)))
    assert not any(bn.affine for bn in cell_bns(space.build(v2, **TINY, affine=False)))
    assert not any(bn.affine for bn in cell_bns(space.supernet_space(**TINY)))
    affine_supernet = space.supernet_space(**TINY, affine=True)
    pool_bns = {id(m[1]) for m in affine_supernet.modules() if isinstance(m, nn.Sequential)
                and isinstance(m[0], (nn.MaxPool2d, nn.AvgPool2d))}
    assert pool_bns and all(bn.affine == (id(bn) not in pool_bns) for bn in cell_bns(affine_supernet))
    assert space.supernet_space(**TINY).stem[1].affine  # the stem's BN is affine, as in DARTS


@pytest.mark.parametrize(("kwargs", "error", "bad"), [
    ({"channels": 0}, ValueError, "channels must be >= 1, got 0"),
    ({"layers": 2}, ValueError, "layers must be >= 3"),
    ({"num_classes": 2.5}, TypeError, "num_classes must be an int, got 2.5"),
    ({"in_channels": "3"}, TypeError, "in_channels must be an int, got '3'"),
    ({"affine": 1}, TypeError, "affine must be a bool, got 1"),
])
@pytest.mark.parametrize("network", [DartsModelSpace, DartsSupernet])
def test_constructors_validate_arguments(network: type, kwargs: dict, error: type, bad: str) -> None:
    with pytest.raises(error, match=re.escape(bad)):
        network(**kwargs)


# -- operations --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [8, 7])
def test_every_op_keeps_or_halves_the_shape(size: int) -> None:
    x = torch.randn(2, 6, size, size)
    for name in OPS:
        for stride, out in ((1, size), (2, (size + 1) // 2)):
            assert make_op(name, 6, stride=stride, pool_bn=True)(x).shape == (2, 6, out, out), (name, stride)


def test_op_structure() -> None:
    assert isinstance(make_op("skip_connect", 4, stride=2), FactorizedReduce)
    assert isinstance(make_op("none", 4, stride=2), Zero)
    sep, dil = make_op("sep_conv_5x5", 4), make_op("dil_conv_3x3", 4)
    assert isinstance(sep, SepConv) and len(sep) == 2 and isinstance(dil, DilConv)
    assert sep[0][1].groups == 4 and sep[0][1].kernel_size == (5, 5) and sep[0][1].dilation == (1, 1)
    assert dil[1].dilation == (2, 2) and dil[1].padding == (2, 2)
    pool = make_op("avg_pool_3x3", 4, pool_bn=True)
    assert isinstance(pool[1], nn.BatchNorm2d) and not pool[1].affine
    assert isinstance(make_op("max_pool_3x3", 4), nn.MaxPool2d)
    torch.testing.assert_close(make_op("avg_pool_3x3", 1)(torch.ones(1, 1, 4, 4)), torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="'nor_conv_3x3'"):
        make_op("nor_conv_3x3", 4)
    with pytest.raises(ValueError, match="stride 1 or 2, got 3"):
        make_op("none", 4, stride=3)


# -- one-shot interface ------------------------------------------------------------------------------------------
def test_supernet_space_edges_are_shared_layer_choices(space: DartsSpace) -> None:
    supernet = space.supernet_space(channels=4, layers=4, num_classes=6)
    choices = [m for m in supernet.modules() if isinstance(m, LayerChoice)]
    assert len(choices) == 4 * 14 and {type(m) for m in choices} == {LayerChoice}
    assert {m.label for m in choices} == set(EDGE_LABELS) and len(EDGE_LABELS) == 28
    assert all(list(m.names) == list(OPS) for m in choices)
    assert list(supernet.simplify()) == list(EDGE_LABELS)
    assert supernet(torch.randn(2, 3, 32, 32)).shape == (2, 6)
    reduce_cell = supernet.cells[1]
    assert isinstance(reduce_cell.edges["reduce_0_2"]["skip_connect"], FactorizedReduce)
    assert isinstance(reduce_cell.edges["reduce_2_3"]["skip_connect"], nn.Identity)
    assert isinstance(reduce_cell.edges["reduce_1_5"]["max_pool_3x3"][1], nn.BatchNorm2d)


def test_supernet_nodes_sum_all_incoming_edges(space: DartsSpace) -> None:
    """With every edge the identity (skip_connect), node i of a normal cell is 2 ** (i - 2) * (s0 + s1)."""
    cell = space.supernet_space(**TINY).cells[0]
    with model_context({label: "skip_connect" for label in EDGE_LABELS}):
        fixed = type(cell)(cell="normal", c_prev_prev=12, c_prev=12, channels=4, reduction_prev=False)
    fixed.preprocess0 = fixed.preprocess1 = nn.Identity()
    s0, s1 = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    out = fixed(s0, s1).split(4, dim=1)
    for i, node in zip(NODES, out):
        torch.testing.assert_close(node, 2 ** (i - 2) * (s0 + s1))


def test_supernet_default_is_the_papers_search_network(space: DartsSpace) -> None:
    """C=16, 8 cells: 1,930,618 parameters, the count of DARTS's search network (as NASLib's tests also pin)."""
    assert count_parameters(space.supernet_space()) == 1_930_618


def _favouring(sample: dict, *, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Strengths where the sample's edges carry its op at 0.5, other ops are < 0.1 and none is 0.9 everywhere."""
    weights = {label: {op: float(rng.uniform(0, 0.1)) for op in OPS} for label in EDGE_LABELS}
    for label in EDGE_LABELS:
        weights[label]["none"] = 0.9
    for cell in ("normal", "reduce"):
        for i, node in zip(NODES, cell_nodes(sample, cell)):
            for op, src in node:
                weights[f"{cell}_{src}_{i}"][op] = 0.5
    return weights


def test_derive_recovers_the_favoured_genotype(space: DartsSpace, v2: dict) -> None:
    rng = np.random.default_rng(0)
    assert space.derive(_favouring(v2, rng=rng)) == v2  # 'none' is ignored, as in the paper
    for sample in _samples(space, 20, seed=7):
        assert space.derive(_favouring(sample, rng=rng)) == sample


def test_derive_keeps_the_two_strongest_edges_and_breaks_ties_by_order(space: DartsSpace) -> None:
    uniform = {label: {op: 0.125 for op in OPS} for label in EDGE_LABELS}
    derived = space.derive(uniform)
    assert space.categorical().validate(derived) == derived
    assert all(derived[f"{t}_{i}_inputs"] == "0_1" for t in ("normal", "reduce") for i in (3, 4, 5))
    assert set(derived[label] for label in derived if "_op" in label) == {"max_pool_3x3"}  # first of CELL_OPS
    weights = {label: {op: 0.0 for op in OPS} for label in EDGE_LABELS}
    weights["normal_3_5"]["dil_conv_5x5"] = 0.3
    weights["normal_1_5"]["avg_pool_3x3"] = 0.2
    weights["normal_0_5"]["sep_conv_3x3"] = 0.1
    derived = space.derive(weights)
    assert (derived["normal_5_inputs"], derived["normal_5_op0"], derived["normal_5_op1"]) == \
        ("1_3", "avg_pool_3x3", "dil_conv_5x5")


@pytest.mark.parametrize(("change", "named"), [
    (lambda w: w.pop("reduce_4_5"), "missing label 'reduce_4_5'"),
    (lambda w: w.update({"normal_5_6": {"none": 1.0}}), "unknown labels ['normal_5_6']"),
    (lambda w: w["normal_0_2"].update({"conv_9x9": 1.0}), "unknown op 'conv_9x9' in the strengths of 'normal_0_2'"),
    (lambda w: w["normal_0_2"].update({"skip_connect": float("nan")}), "'skip_connect' on 'normal_0_2' is nan"),
    (lambda w: w.update({"normal_1_2": {"none": 1.0}}), "'normal_1_2' name none of its candidates"),
])
def test_derive_rejects_bad_weights(space: DartsSpace, change, named: str) -> None:
    weights = {label: {op: 0.1 for op in OPS} for label in EDGE_LABELS}
    change(weights)
    with pytest.raises(ValueError, match=re.escape(named)):
        space.derive(weights)


def test_edge_groups(space: DartsSpace) -> None:
    groups = space.edge_groups()
    assert set(groups) == set(EDGE_LABELS)
    assert groups["normal_0_2"] == groups["normal_1_2"] == "normal_2" and groups["reduce_4_5"] == "reduce_5"
    assert {g: sum(v == g for v in groups.values()) for g in set(groups.values())} == \
        {f"{t}_{i}": i for t in ("normal", "reduce") for i in NODES}


def test_nb201_one_shot_defaults() -> None:
    space = NB201Space()
    assert space.edge_groups() == {"edge_0_1": "1", "edge_0_2": "2", "edge_1_2": "2", "edge_0_3": "3",
                                   "edge_1_3": "3", "edge_2_3": "3"}
    rng = np.random.default_rng(0)
    cat = space.categorical().as_dict()
    for _ in range(10):
        weights = {label: dict(zip(ops, rng.dirichlet(np.ones(len(ops))).tolist())) for label, ops in cat.items()}
        assert space.derive(weights) == {label: max(w, key=w.get) for label, w in weights.items()}
    tied = {label: {op: 0.2 for op in ops} for label, ops in cat.items()}
    assert set(space.derive(tied).values()) == {"none"}  # ties: the first op in choice order
    assert type(space.supernet_space(channels=4, num_cells=1)).__name__ == "NB201ModelSpace"
    with pytest.raises(ValueError, match="missing label 'edge_2_3'"):
        space.derive({label: w for label, w in tied.items() if label != "edge_2_3"})
