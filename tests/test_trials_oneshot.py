"""effnas-trial --evaluator oneshot: one differentiable search per trial (NNI's trial API replaced by recorders),
derived.json, resume from the trial directory, failures; the nnictl config; space-specific model sizes."""
import json
import shlex
from pathlib import Path

import nni
import pytest
import yaml

from nni_effnas.nb201 import load_table
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.trials import main as trial_main
from nni_effnas.trials.evaluators import OneShotParameters, model_size_kwargs

pytestmark = pytest.mark.usefixtures("one_thread")
CONFIGS = Path(__file__).resolve().parent.parent / "trials" / "configs"
TINY = ["--evaluator", "oneshot", "--space", "nb201", "--dataset", "digits", "--channels", "4", "--cells", "1",
        "--batch-size", "32", "--val-limit", "200"]
EPOCH_KEYS = {"default", "val_acc", "skip_count", "alpha_entropy", "hessian_eig", "arch", "epoch"}


def test_trial_reports_per_epoch_writes_derived_json_and_resumes(fake_nni, tmp_path, capsys):
    monkeypatch, reports = fake_nni
    monkeypatch.setattr(nni, "get_next_parameter", lambda: {"method": "darts", "seed": 0})
    table = load_table()
    assert trial_main.main([*TINY, "--epochs", "1", "--out-dir", str(tmp_path)]) == 0
    (epoch1,), (final,) = reports["intermediate"], reports["final"]
    assert set(epoch1) == EPOCH_KEYS and epoch1["epoch"] == 1 and epoch1["hessian_eig"] is None
    assert EPOCH_KEYS | {"cifar100", "imagenet16", "sample", "parameters", "derived_json"} <= set(final)
    assert final["default"] == table.query(final["arch"], "cifar10")["test_acc_200ep"]
    assert final["cifar100"] == table.query(final["arch"], "cifar100")["test_acc_200ep"]
    assert final["arch"] == epoch1["arch"] and final["default"] == epoch1["default"]
    assert 0 < final["val_acc"] <= 100 and 0 <= final["skip_count"] <= 6 and final["alpha_entropy"] > 0
    assert final["parameters"] == {"method": "darts", "seed": 0} and final["resumed"] is False
    derived = json.loads((tmp_path / "derived.json").read_text())
    assert derived["space"] == "nb201" and derived["arch"] == final["arch"] and derived["sample"] == final["sample"]
    assert derived["method"] == "darts" and derived["seed"] == 0
    assert list(Path(final["checkpoint_dir"]).glob("last.ckpt"))
    # the same trial directory again, for 2 epochs: the search continues at epoch 2, it does not restart
    reports["intermediate"].clear()
    assert trial_main.main([*TINY, "--epochs", "2", "--out-dir", str(tmp_path)]) == 0
    assert [r["epoch"] for r in reports["intermediate"]] == [2]
    resumed = reports["final"][1]
    assert resumed["resumed"] is True and resumed["epoch"] == 2
    assert json.loads((tmp_path / "derived.json").read_text())["epochs"] == 2


def test_p_darts_trial_runs_its_stages_and_resumes_them(fake_nni, tmp_path):
    """P-DARTS's stage settings come in the trial parameters; every stage's epochs are reported with the stage,
    the final result lists the stages, and a trial run again in the same directory loads the finished stages."""
    monkeypatch, reports = fake_nni
    params = {"method": "p_darts", "seed": 0, "depths": [1, 2], "keep_ops": [3]}
    monkeypatch.setattr(nni, "get_next_parameter", lambda: params)
    assert trial_main.main([*TINY, "--epochs", "1", "--out-dir", str(tmp_path)]) == 0
    assert [(r["stage"], r["epoch"]) for r in reports["intermediate"]] == [(1, 1), (2, 1)]
    (final,) = reports["final"]
    assert [s["depth"] for s in final["stages"]] == [1, 2] and final["stages"][0]["keep"] is None
    assert all(len(ops) == 3 for ops in final["stages"][1]["keep"].values())
    assert final["parameters"] == params and final["resumed"] is False
    assert json.loads((tmp_path / "derived.json").read_text())["stages"] == final["stages"]
    ckpt = Path(final["checkpoint_dir"])
    assert (ckpt / "stage-1" / "last.ckpt").is_file() and (ckpt / "stage-2" / "result.json").is_file()
    reports["intermediate"].clear()
    assert trial_main.main([*TINY, "--epochs", "1", "--out-dir", str(tmp_path)]) == 0
    assert reports["intermediate"] == []  # nothing left to search
    resumed = reports["final"][1]
    assert resumed["resumed"] is True and resumed["arch"] == final["arch"] and resumed["stages"] == final["stages"]


def test_bad_method_fails_the_trial_with_one_line(fake_nni, tmp_path, capsys):
    monkeypatch, reports = fake_nni
    monkeypatch.setattr(nni, "get_next_parameter", lambda: {"method": "darts_9000", "seed": 0})
    assert trial_main.main([*TINY, "--epochs", "1", "--out-dir", str(tmp_path)]) == 2
    assert reports == {"intermediate": [], "final": []}
    err = capsys.readouterr().err.strip()
    assert err.startswith("effnas-trial: error: unknown one-shot method 'darts_9000'") and "\n" not in err


@pytest.mark.parametrize("argv, message", [
    (["--params", "[1]"], "is not a JSON dict"),
    (["--params", '{"seed": "x"}'], "parameter 'seed' must be an int"),
    (["--arch", load_table().arch_str(1)], "takes trial parameters"),
    (["--params", '{"method": "darts", "tau_max": 3}'], "bad arguments for one-shot method 'darts'"),
])
def test_standalone_bad_parameters(argv, message, capsys):
    assert trial_main.main([*TINY, "--epochs", "1", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_parameters_accept_flat_and_nested_choice_forms():
    flat = OneShotParameters.parse({"method": "gdas", "seed": 2.0, "tau_max": 5, "a_lr": 1e-3})
    assert (flat.method, flat.seed, flat.method_args, flat.search_args) == ("gdas", 2, {"tau_max": 5}, {"a_lr": 1e-3})
    nested = OneShotParameters.parse({"method": {"_name": "gdas", "tau_min": 0.5}}, default_seed=7)
    assert (nested.method, nested.seed, nested.method_args) == ("gdas", 7, {"tau_min": 0.5})


def test_model_size_kwargs_are_space_specific():
    from nni_effnas.search_spaces import get_space

    assert model_size_kwargs("nb201", channels=8, cells=2) == {"channels": 8, "num_cells": 2}
    assert model_size_kwargs("darts", channels=8, cells=1) == {"channels": 8, "layers": 3}
    from nni_effnas.search_spaces.darts import DARTS_V2

    darts = get_space("darts")
    net = darts.build(darts.from_genotype(DARTS_V2), in_channels=1, num_classes=10,
                      **model_size_kwargs("darts", channels=4, cells=1))
    import torch

    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="cells must be an int >= 1"):
        model_size_kwargs("nb201", channels=4, cells=0)


def test_nnictl_config_compares_registered_methods_and_seeds():
    config = yaml.safe_load((CONFIGS / "nb201_oneshot.yml").read_text())
    space = json.loads((CONFIGS / config["searchSpaceFile"]).read_text())
    assert set(space) == {"method", "seed"}
    assert space["method"]["_type"] == "choice" and all(m in ONESHOT for m in space["method"]["_value"])
    assert space["seed"] == {"_type": "choice", "_value": [0, 1, 2]}
    assert config["tuner"]["name"] == "GridSearch"
    assert config["maxTrialNumber"] == len(space["method"]["_value"]) * 3
    comment = (CONFIGS / "nb201_oneshot.yml").read_text().split("experimentName")[0]
    assert all(m in comment for m in ONESHOT.names() if m not in space["method"]["_value"])  # the rest are named
    command = shlex.split(config["trialCommand"])
    assert command[0] == "effnas-trial"
    args = trial_main.build_parser().parse_args(command[1:])
    kwargs = trial_main.evaluator_kwargs(args)
    assert args.evaluator == "oneshot" and kwargs["dataset"] == "digits" and kwargs["out_dir"] is None


def test_retrain_example_trains_the_derived_cell(tmp_path, capsys):
    """examples/retrain_derived.py on a derived.json: builds the cell's network and trains it (in-process)."""
    import importlib.util

    arch = load_table().arch_str(6111)
    derived = tmp_path / "derived.json"
    derived.write_text(json.dumps({"space": "nb201", "arch": arch, "sample": load_table().sample(6111)}))
    script = Path(__file__).resolve().parent.parent / "examples" / "retrain_derived.py"
    spec = importlib.util.spec_from_file_location("retrain_derived", script)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main([str(derived), "--dataset", "digits", "--epochs", "1", "--channels", "4", "--cells", "1",
                         "--limit", "400", "--out-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert f"retrained nb201 {arch}" in out and "epoch 1: val_acc" in out
    accuracy = float(out.split("final val_acc ")[1].split()[0])
    assert 0 < accuracy <= 100 and (tmp_path / "run" / "model.pt").is_file()


def test_zero_cost_pt_trial_reports_its_cell_without_training_epochs(fake_nni, tmp_path):
    """Zero-Cost-PT trains no supernet: no intermediate results, a final result with the benchmark accuracy."""
    monkeypatch, reports = fake_nni
    params = {"method": "zc_pt", "seed": 0, "pool_size": 2, "validate_batches": 1,
              "validate_model": {"channels": 4, "num_cells": 1}}
    monkeypatch.setattr(nni, "get_next_parameter", lambda: params)
    assert trial_main.main([*TINY, "--epochs", "1", "--out-dir", str(tmp_path)]) == 0
    (final,) = reports["final"]
    assert reports["intermediate"] == [] and final["epoch"] == 0 and final["val_acc"] is None
    assert final["default"] == load_table().query(final["arch"], "cifar10")["test_acc_200ep"]
    assert json.loads((tmp_path / "derived.json").read_text())["arch"] == final["arch"]


def test_a_zero_cost_pt_search_without_a_finite_score_is_a_failed_trial(fake_nni, tmp_path, capsys):
    """The proxy scoring nothing finite is an outcome of the search (exit 1, a FAILED trial), not bad input (2)."""
    import nni_effnas.proxies as proxies

    monkeypatch, reports = fake_nni
    params = {"method": "zc_pt", "seed": 0, "pool_size": 1, "validate_batches": 1,
              "validate_model": {"channels": 4, "num_cells": 1}}
    monkeypatch.setattr(nni, "get_next_parameter", lambda: params)
    monkeypatch.setattr(proxies, "score", lambda *a, **k: float("nan"))
    assert trial_main.main([*TINY, "--epochs", "1", "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("effnas-trial: error: zc_pt: proxy 'nwot' gave no finite score") and "\n" not in err
    assert reports["final"] == [] and not (tmp_path / "derived.json").exists()
