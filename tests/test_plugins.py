"""Third-party strategies through the ``nni_effnas.strategies`` entry-point group: an installed package's
strategy is known to the CLI and the API without importing it by hand; a broken one is skipped with a warning."""
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


def install(site, name, module_source, module="effnas_test_plugin"):
    """An installed distribution in the folder ``site``, as pip leaves one: the module and its dist-info."""
    (site / f"{module}.py").write_text(module_source)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nni_effnas.strategies]\n{name} = {module}\n")


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
    assert "strategy plug-in 'effnas-broken-plugin' (effnas_broken) failed to load" in listed.stderr
    assert "RuntimeError: no such GPU" in listed.stderr
