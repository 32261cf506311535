"""Packaging: the repo's top-level search_spaces/, strategies/ and trials/ folders install as
sub-packages of nni_effnas, so nothing generic lands at the top of site-packages.
Metadata lives in pyproject.toml."""
from setuptools import setup

SUBPACKAGES = ("search_spaces", "strategies", "trials")

setup(
    packages=["nni_effnas", "nni_effnas.data", "nni_effnas.proxies", "nni_effnas.predictors", "nni_effnas.oneshot",
              "nni_effnas.costs"]
    + [f"nni_effnas.{name}" for name in SUBPACKAGES] + ["nni_effnas.strategies.oneshot"],
    package_dir={"nni_effnas": "nni_effnas", **{f"nni_effnas.{name}": name for name in SUBPACKAGES}},
    package_data={
        "nni_effnas.data": ["*.npz", "*.md", "*.json"],
        "nni_effnas.trials": ["configs/*.yml", "configs/*.json"],
    },
    include_package_data=False,
)
