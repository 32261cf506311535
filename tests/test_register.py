"""nni-effnas register: our strategies become NNI tuners by name, idempotently; configs use them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nni_effnas import register as reg
from nni_effnas.nni_tuner import registered_strategies
from nni_effnas.search_spaces import get_space

CONFIGS = Path(__file__).resolve().parent.parent / "trials" / "configs"


@pytest.fixture
def nni_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CONFIG_DIR", str(tmp_path))
    return tmp_path


def test_register_is_idempotent(nni_config_dir, capsys):
    assert not reg.is_registered()
    reg.register()
    out = capsys.readouterr().out
    assert out.startswith("registered with NNI: ")
    assert {"EffnasRandom", "EffnasRegularizedEvolution", "EffnasZeroCostWarmup"} <= set(
        out.split(": ", 1)[1].strip().split(", "))
    content = yaml.safe_load((nni_config_dir / "registered_algorithms.yml").read_text())
    names = {t["builtinName"]: t["className"] for t in content["tuners"]}
    assert names["EffnasRegularizedEvolution"] == "nni_effnas.nni_tuner.EffnasRegularizedEvolution"
    before = (nni_config_dir / "registered_algorithms.yml").stat().st_mtime_ns
    reg.register()
    assert "already registered" in capsys.readouterr().out
    assert (nni_config_dir / "registered_algorithms.yml").stat().st_mtime_ns == before


def test_every_strategy_of_ours_is_registered_but_not_nnis_own():
    names = {m["builtinName"] for m in reg.algorithm_metas()}
    assert len(names) == len(registered_strategies())
    assert "EffnasRandom" in names and not any("Nni" in n for n in names)


def test_nni_resolves_the_registered_name(nni_config_dir):
    reg.register(quiet=True)
    code = ("from nni.tools.package_utils.tuner_factory import create_builtin_class_instance as c; "
            "t = c('EffnasRegularizedEvolution', {'seed': 0, 'population_size': 5, 'sample_size': 2}, 'tuners'); "
            "print(type(t).__name__, t.strategy.population_size)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["EffnasRegularizedEvolution", "5"], out.stderr[-1000:]


def test_shipped_search_space_json_is_the_spaces_own():
    shipped = json.loads((CONFIGS / "nb201_search_space.json").read_text())
    assert shipped == get_space("nb201").categorical().to_nni()


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yml")))
def test_configs_name_known_tuners_and_trial_command(config):
    data = yaml.safe_load((CONFIGS / config).read_text())
    tuner = data["tuner"]["name"]
    assert tuner in {m["builtinName"] for m in reg.algorithm_metas()} | {"TPE", "Random", "Evolution", "GridSearch"}
    assert data["trialCommand"].startswith("effnas-trial ")
    assert (CONFIGS / data["searchSpaceFile"]).is_file()
