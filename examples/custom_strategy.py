"""Write a strategy of your own: implement ask/tell and register it; it then runs in-process (`run_search`,
`nni_effnas.api.search`, the Optuna sampler adapter) in any program that imports it, as below.

To have `nni-effnas bench search`, `nni-effnas list` and NNI (after `nni-effnas register`) know it too, put the
class in a package and declare its module in the entry-point group `nni_effnas.strategies`, e.g. in that
package's pyproject.toml:

    [project.entry-points."nni_effnas.strategies"]
    hill_climb = "my_package.hill_climb"

and pip-install the package into the same environment; nni-effnas imports the module after its own strategies
(docs/plugins.md: the same for search spaces, evaluators, one-shot methods, predictors and proxies).

    .venv/bin/python examples/custom_strategy.py
"""
from nni_effnas.loop import run_search
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.base import Strategy, observed_reward
from nni_effnas.strategies.regularized_evolution import mutate
from nni_effnas.tabular import TabularBenchmark


@STRATEGIES.register("hill_climb_example")
class HillClimb(Strategy):
    """Greedy local search: mutate the best sample seen so far (a toy, for illustration)."""

    def __init__(self, *, seed=None):
        super().__init__(seed=seed)
        self.best = None

    def ask(self):
        space = self._space()
        return space.sample(self.rng) if self.best is None else mutate(self.best[0], space, self.rng)

    def tell(self, sample, reward, metrics=None):
        reward = observed_reward(reward)  # None for a failed trial (also NaN, inf); refuses a non-number
        if reward is not None and (self.best is None or reward > self.best[1]):
            self.best = (sample, reward)


bench = TabularBenchmark.nb201("cifar10")
result = run_search(HillClimb(seed=0), bench.space, bench.evaluate, time_budget_s=bench.budget_s)
print(f"{len(result.trials)} cells evaluated; test accuracy of the best: {result.best.metrics['reported']:.2f} %")
