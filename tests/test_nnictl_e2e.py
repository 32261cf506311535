"""End to end under nnictl: registered tuners, the web UI's REST API, stop and resume (slow: real NNI runs)."""
import json
import shutil
from pathlib import Path

import pytest
import yaml

from nni_effnas import experiment
from nni_effnas.nb201 import load_table
from nni_effnas.register import register
from nni_effnas.search_spaces import get_space

pytestmark = pytest.mark.slow
CONFIGS = Path(__file__).resolve().parent.parent / "trials" / "configs"
LABELS = set(get_space("nb201").categorical().labels)


def write_config(tmp_path, name, *, space=None, **overrides):
    config = yaml.safe_load((CONFIGS / name).read_text())
    config.update(overrides)
    space_file = tmp_path / "space.json"
    if space is None:
        shutil.copy(CONFIGS / config["searchSpaceFile"], space_file)
    else:
        space_file.write_text(json.dumps(space))
    config["searchSpaceFile"] = str(space_file)
    config["experimentWorkingDirectory"] = str(tmp_path / "nni-experiments")
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def run_experiment():
    started = []

    def start(config):
        port = experiment.free_port(18080 + 7 * len(started))
        exp_id = experiment.create(config, port=port)
        started.append(exp_id)
        return exp_id, port

    register(quiet=True)
    yield start
    for exp_id in started:
        experiment.stop(exp_id)


def assert_clean_trials(trials):
    for t in trials:
        assert set(t["parameter"]) == LABELS, t["parameter"]
        assert t["metrics"]["sample"] == t["parameter"]
        assert {"default", "params_M", "arch"} <= set(t["metrics"])


def test_registered_tuner_completes_20_trials(tmp_path, run_experiment):
    config = write_config(tmp_path, "nb201_evolution.yml", maxTrialNumber=20)
    exp_id, port = run_experiment(config)
    assert experiment.wait(port, timeout_s=600, progress=False) == "DONE"
    trials = experiment.trials(port)
    assert len(trials) == 20 and all(t["status"] == "SUCCEEDED" for t in trials)
    assert_clean_trials(trials)
    assert exp_id in experiment.nnictl("experiment", "list", "--all")
    # nnictl view: the stopped experiment's results are served again
    experiment.stop(exp_id)
    view_port = experiment.free_port(port + 1)
    experiment.view(exp_id, port=view_port)
    import time

    for _ in range(30):
        try:
            viewed = experiment.trials(view_port)
            break
        except OSError:
            time.sleep(1)
    assert [t["parameter"] for t in viewed] == [t["parameter"] for t in trials]


@pytest.mark.parametrize("name, n", [("nb201_tpe.yml", 6), ("nb201_bananas.yml", 13), ("nb201_optuna_gp.yml", 12)])
def test_other_tuners_run_on_our_search_space(tmp_path, run_experiment, name, n):
    """NNI's TPE; our BANANAS past its 10 initial samples (the predictor fits inside NNI's dispatcher); Optuna's
    GP sampler through our adapter."""
    config = write_config(tmp_path, name, maxTrialNumber=n)
    _, port = run_experiment(config)
    assert experiment.wait(port, timeout_s=600, progress=False) == "DONE"
    trials = experiment.trials(port)
    assert len(trials) == n and all(t["status"] == "SUCCEEDED" for t in trials)
    assert_clean_trials(trials)
    if name == "nb201_bananas.yml":  # BANANAS never proposes a cell twice (the Optuna and NNI samplers may)
        assert len({json.dumps(t["parameter"], sort_keys=True) for t in trials}) == n


def test_stop_and_resume_never_re_evaluates(tmp_path, run_experiment):
    """A 25-cell slice of NB201 (two free edges): the search must cover it exactly once across a resume."""
    space = get_space("nb201").categorical().to_nni()
    for label in ["edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3"]:
        space[label]["_value"] = ["nor_conv_3x3"]
    # random search with replacement keeps proposing known cells; only the tuner's memory prevents re-runs
    config = write_config(tmp_path, "nb201_random.yml", space=space, maxTrialNumber=40,
                          tuner={"name": "EffnasRandom", "classArgs": {"seed": 1}})
    exp_id, port = run_experiment(config)
    import time

    deadline = time.monotonic() + 300
    while sum(t["status"] == "SUCCEEDED" for t in experiment.trials(port)) < 8:
        assert time.monotonic() < deadline, "the experiment did not get going"
        time.sleep(2)
    experiment.stop(exp_id)
    before = {json.dumps(t["parameter"], sort_keys=True) for t in experiment_trials_offline(tmp_path, exp_id)}
    experiment.resume(exp_id, port=port)
    experiment.wait(port, timeout_s=600, progress=False)
    trials = [t for t in experiment.trials(port) if t["status"] == "SUCCEEDED"]
    keys = [json.dumps(t["parameter"], sort_keys=True) for t in trials]
    assert len(keys) == len(set(keys)), "an architecture was evaluated twice"
    assert len(set(keys)) == 25 and before <= set(keys)


def experiment_trials_offline(tmp_path, exp_id):
    """Succeeded trials read from the stopped experiment's database (the REST API is down)."""
    import sqlite3

    db = tmp_path / "nni-experiments" / exp_id / "db" / "nni.sqlite"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT data FROM TrialJobEvent WHERE event = 'WAITING'").fetchall()
    return [{"parameter": json.loads(r[0])["parameters"]} for r in rows if r[0]]


def test_real_training_config_reports_per_epoch(tmp_path, run_experiment):
    """trials/configs/digits_train.yml: Lightning training under nnictl, one intermediate result per epoch."""
    config = write_config(tmp_path, "digits_train.yml", maxTrialNumber=2)
    _, port = run_experiment(config)
    assert experiment.wait(port, timeout_s=600, progress=False) == "DONE"
    trials = experiment.trials(port)
    assert len(trials) == 2 and all(t["status"] == "SUCCEEDED" for t in trials), trials
    assert_clean_trials(trials)
    intermediate = [m for m in experiment.rest(port, "metric-data") if m["type"] == "PERIODICAL"]
    assert len(intermediate) == 2 * 3  # 3 epochs each
    for t in trials:
        assert 0 < t["metrics"]["val_acc"] <= 100
        assert Path(t["metrics"]["checkpoint"]).is_file()


def test_failing_trials_are_failed_and_the_search_goes_on(tmp_path, run_experiment):
    """A search space that admits an op our space rejects: those trials fail, the others still run."""
    space = get_space("nb201").categorical().to_nni()
    space["edge_0_1"]["_value"] = ["nor_conv_3x3", "conv_7x7"]
    for label in ["edge_0_2", "edge_1_2", "edge_0_3"]:
        space[label]["_value"] = ["skip_connect"]
    config = write_config(tmp_path, "nb201_random.yml", space=space, maxTrialNumber=8,
                          tuner={"name": "EffnasRandom", "classArgs": {"seed": 0}})
    _, port = run_experiment(config)
    experiment.wait(port, timeout_s=600, progress=False)
    trials = experiment.trials(port)
    failed = [t for t in trials if t["status"] == "FAILED"]
    succeeded = [t for t in trials if t["status"] == "SUCCEEDED"]
    assert failed and all(t["parameter"]["edge_0_1"] == "conv_7x7" for t in failed)
    assert succeeded and all(t["parameter"]["edge_0_1"] == "nor_conv_3x3" for t in succeeded)
    assert all(t["metrics"] is None for t in failed)


def test_zero_cost_warmup_tuner_scores_and_proposes_the_best_first(tmp_path, run_experiment):
    """trials/configs/nb201_zc_warmup.yml: the tuner scores its pool with synflow inside NNI's dispatcher
    (cached to a file we can read back) and the first `warmup` parameter ids are the pool's best, in order."""
    from nni_effnas.zerocost import ZeroCostScorer

    cache = tmp_path / "zc.sqlite"
    config = write_config(tmp_path, "nb201_zc_warmup.yml", maxTrialNumber=8)
    tuner = yaml.safe_load(config.read_text())["tuner"]
    tuner["classArgs"].update(pool_size=20, warmup=5, cache=str(cache))
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "tuner": tuner}))
    _, port = run_experiment(config)
    assert experiment.wait(port, timeout_s=600, progress=False) == "DONE"
    trials = sorted(experiment.trials(port), key=lambda t: t["parameter_id"])
    assert len(trials) == 8 and all(t["status"] == "SUCCEEDED" for t in trials)
    assert_clean_trials(trials)
    scorer = ZeroCostScorer("nb201", proxies=["synflow"], dataset="cifar10", cache=str(cache))
    assert scorer.cache.count(scorer.setting()) >= 2 * 20  # synflow + build time of every pool member
    warm = [scorer.score(t["parameter"])["synflow"] for t in trials[:5]]
    assert scorer.computed_s == 0.0, "the tuner should have scored these already"
    assert warm == sorted(warm, reverse=True)


def test_hardware_aware_search_reports_every_cost_and_the_tuner_reads_them(tmp_path, run_experiment):
    """trials/configs/nb201_hw_mo_bananas.yml for 6 trials (4 initial, then the EHVI acquisition inside NNI's
    dispatcher): every trial reports accuracy as default and latency, FLOPs and params beside it; the tuner's
    checkpoint shows that mo_bananas observed each trial's reported latency as its cost."""
    from nni_effnas.nb201 import load_table

    config = write_config(tmp_path, "nb201_hw_mo_bananas.yml", maxTrialNumber=6)
    data = yaml.safe_load(config.read_text())
    data["tuner"]["classArgs"]["strategy_args"].update(initial=4, predictor="random_forest", candidates=50)
    config.write_text(yaml.safe_dump(data))
    exp_id, port = run_experiment(config)
    assert experiment.wait(port, timeout_s=300, progress=False) == "DONE"
    trials = experiment.trials(port)
    assert len(trials) == 6 and all(t["status"] == "SUCCEEDED" for t in trials), trials
    assert_clean_trials(trials)
    table = load_table()
    for t in trials:
        row = table.query(t["parameter"])
        metrics = t["metrics"]
        assert metrics["default"] == row["valid_acc_12ep"]
        assert metrics["latency_ms"] == metrics["latency_pixel2_ms"] == row["latency_ms"]["pixel2"]
        assert metrics["flops_M"] > 0 and metrics["params_M"] == row["params_M"]
    assert len({json.dumps(t["parameter"], sort_keys=True) for t in trials}) == 6
    import time

    checkpoint = next((tmp_path / "nni-experiments" / exp_id).rglob("effnas_tuner.json"))
    for _ in range(20):  # the dispatcher may still be handling the last result when the experiment is DONE
        observed = json.loads(checkpoint.read_text())["strategy_state"]["observations"]
        if len(observed) == 6:
            break
        time.sleep(0.5)
    reported = {json.dumps(t["parameter"], sort_keys=True): t["metrics"]["latency_ms"] for t in trials}
    assert len(observed) == 6
    assert all(cost == reported[json.dumps(sample, sort_keys=True)] for sample, _, cost in observed)


def test_constrained_config_keeps_every_trial_under_the_latency_bound(tmp_path, run_experiment):
    """trials/configs/nb201_hw_constrained.yml for 5 trials: the tuner's constraint classArg rejects slower cells
    before they become trials."""
    from nni_effnas.nb201 import load_table

    config = write_config(tmp_path, "nb201_hw_constrained.yml", maxTrialNumber=5)
    data = yaml.safe_load(config.read_text())
    data["tuner"]["classArgs"].update(initial=3, predictor="random_forest", candidates=50)
    config.write_text(yaml.safe_dump(data))
    _, port = run_experiment(config)
    assert experiment.wait(port, timeout_s=300, progress=False) == "DONE"
    trials = experiment.trials(port)
    assert len(trials) == 5 and all(t["status"] == "SUCCEEDED" for t in trials), trials
    table = load_table()
    assert all(table.query(t["parameter"])["latency_ms"]["pixel2"] <= 12 for t in trials)
    assert all(t["metrics"]["latency_ms"] <= 12 for t in trials)


def test_one_shot_config_runs_one_search_per_trial(tmp_path, run_experiment):
    """trials/configs/nb201_oneshot.yml (DARTS and P-DARTS, one seed, 1 epoch): each trial is a whole
    differentiable search (P-DARTS: its three stages); the web UI gets one intermediate result per epoch (per
    stage) and a final one with the derived cell's NAS-Bench-201 accuracies, and the trial leaves derived.json."""
    from nni_effnas.nb201 import load_table

    space = {"method": {"_type": "choice", "_value": ["darts", "p_darts"]}, "seed": {"_type": "choice", "_value": [0]}}
    config = write_config(tmp_path, "nb201_oneshot.yml", space=space, maxTrialNumber=2)
    data = yaml.safe_load(config.read_text())
    data["trialCommand"] = data["trialCommand"].replace("--epochs 5", "--epochs 1 --limit 512")
    config.write_text(yaml.safe_dump(data))
    _, port = run_experiment(config)
    assert experiment.wait(port, timeout_s=600, progress=False) == "DONE"
    trials = experiment.trials(port)
    assert len(trials) == 2 and all(t["status"] == "SUCCEEDED" for t in trials), trials
    assert sorted(t["parameter"]["method"] for t in trials) == ["darts", "p_darts"]
    intermediate = [m for m in experiment.rest(port, "metric-data") if m["type"] == "PERIODICAL"]
    assert len(intermediate) == 1 + 3  # DARTS's epoch, P-DARTS's 3 stages of 1
    table = load_table()
    for t in trials:
        final = t["metrics"]
        assert final["default"] == table.query(final["arch"], "cifar10")["test_acc_200ep"]
        assert final["imagenet16"] == table.query(final["arch"], "imagenet16")["test_acc_200ep"]
        assert json.loads(Path(final["derived_json"]).read_text())["arch"] == final["arch"]
        if t["parameter"]["method"] == "p_darts":
            assert [s["depth"] for s in final["stages"]] == [1, 2, 3]


def test_the_demo_runs_the_search_under_nnictl_and_prints_what_it_found(tmp_path, capsys):
    """``make demo``'s main job (``nni-effnas demo``) on its packaged config, cut to 8 trials: the experiment
    ends, and the summary names the best cell with its benchmark accuracy and the web UI's address."""
    register(quiet=True)
    config = write_config(tmp_path, "nb201_evolution.yml", maxTrialNumber=8)
    port = experiment.free_port(18300)
    try:
        assert experiment.demo(config=str(config), port=port, timeout_s=600) == 0
    finally:
        out = capsys.readouterr().out
        started = [line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("experiment ")]
        if started:
            experiment.stop(started[0])
    assert "8 trials succeeded, 0 failed" in out and f"web UI: http://localhost:{port}" in out
    lines = out.splitlines()
    arch = next(line for line in lines if line.startswith("best architecture")).split("): ")[1].split(" (index")[0]
    accuracy = float(next(line for line in lines if "200-epoch test accuracy" in line).split(": ")[1].split()[0])
    assert accuracy == pytest.approx(load_table().query(arch, "cifar10")["test_acc_200ep"], abs=0.01)
