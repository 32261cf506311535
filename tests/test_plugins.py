"""Plug-ins through entry-point groups (docs/plugins.md): an installed package's strategy, search space, evaluator,
one-shot method, predictor or proxy is known to the CLI and the API without importing it by hand; a broken one is
skipped with a warning."""
import json
import os
import subprocess
import sys
import textwrap

PLUGIN = textwrap.dedent('''
    from nni_effnas.strategies import STRATEGIES
    from nni_effnas.strategies.base import Strategy, observed_reward


    @STRATEGIES.register("random_plugin")
    class RandomPlugin(Strategy):
        """Uniform random cells (a test plug-in)."""

        def ask(self):
            return self._space().sample(self.rng)

        def tell(self, sample, reward, metrics=None):
            observed_reward(reward)
''')


def install(site, name, module_source, module="effnas_test_plugin", group="nni_effnas.strategies"):
    """An installed distribution in the folder ``site``, as pip leaves one: the module and its dist-info."""
    install_many(site, name, {group: (module, module_source)})


def install_many(site, name, entries):
    """A distribution whose entry points are ``{group: (module, source)}``."""
    lines = []
    for group, (module, source) in entries.items():
        (site / f"{module}.py").write_text(source)
        lines.append(f"[{group}]\n{module} = {module}\n")
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("\n".join(lines))


def cli(site, *args):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "nni_effnas.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_an_installed_plugin_strategy_runs_in_bench_search(tmp_path):
    install(tmp_path, "effnas-test-plugin", PLUGIN)
    listed = cli(tmp_path, "list")
    assert listed.returncode == 0 and "random_plugin" in listed.stdout
    out = tmp_path / "out.json"
    run = cli(tmp_path, "bench", "search", "--dataset", "cifar10", "--strategies", "random_plugin", "--seeds", "2",
              "--budget-frac", "0.02", "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["strategies"]["random_plugin"]["evaluated_mean"] > 0
    # what `nni-effnas register` gives NNI, and the class NNI's dispatcher then imports
    code = ("from nni_effnas.register import algorithm_metas; from nni_effnas.nni_tuner import EffnasRandomPlugin; "
            "print([m['className'] for m in algorithm_metas() if 'Plugin' in m['className']], "
            "EffnasRandomPlugin().strategy.__class__.__name__)")
    tuner = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert tuner.stdout.split() == ["['nni_effnas.nni_tuner.EffnasRandomPlugin']", "RandomPlugin"], tuner.stderr


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path):
    install(tmp_path, "effnas-broken-plugin", "raise RuntimeError('no such GPU')\n", module="effnas_broken")
    listed = cli(tmp_path, "list")
    assert listed.returncode == 0 and "regularized_evolution" in listed.stdout
    assert "strategy plug-in 'effnas_broken' (effnas_broken) failed to load" in listed.stderr
    assert "RuntimeError: no such GPU" in listed.stderr


OTHER_PLUGINS = {
    "nni_effnas.search_spaces": ("plugin_space_mod", """
from nni_effnas.search_spaces import SPACES
from nni_effnas.search_spaces.nb201 import NB201Space


@SPACES.register("plugin_space")
class PluginSpace(NB201Space):
    name = "plugin_space"
"""),
    "nni_effnas.evaluators": ("plugin_eval_mod", """
from nni_effnas.trials.evaluators import EVALUATORS, BenchmarkEvaluator


@EVALUATORS.register("plugin_eval")
class PluginEvaluator(BenchmarkEvaluator):
    pass
"""),
    "nni_effnas.oneshot_methods": ("plugin_method_mod", """
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.darts import DARTS


@ONESHOT.register("plugin_darts")
class PluginDARTS(DARTS):
    name = "plugin_darts"
"""),
    "nni_effnas.predictors": ("plugin_predictor_mod", """
from nni_effnas.predictors import PREDICTORS
from nni_effnas.predictors.random_forest import RandomForest


@PREDICTORS.register("plugin_forest")
class PluginForest(RandomForest):
    pass
"""),
    "nni_effnas.proxies": ("plugin_proxy_mod", """
from nni_effnas.proxies import PROXIES


@PROXIES.register("plugin_width")
def plugin_width(model, *, inputs, targets, loss_fn=None, seed=0):
    return float(sum(p.numel() for p in model.parameters()))
"""),
}


def test_every_registry_loads_its_entry_point_group(tmp_path):
    install_many(tmp_path, "effnas-many-plugins", OTHER_PLUGINS)
    listed = cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    for name in ("plugin_space", "plugin_darts", "plugin_eval"):
        assert name in listed.stdout
    code = ("from nni_effnas.predictors import PREDICTORS; from nni_effnas.proxies import PROXIES; "
            "print('plugin_forest' in PREDICTORS, 'plugin_width' in PROXIES)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert other.stdout.split() == ["True", "True"], other.stderr
