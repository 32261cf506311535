"""Search spaces, by registry key. ``SPACES.get("nb201")()`` gives a :class:`SearchSpace`."""
from nni_effnas.registry import Registry
from nni_effnas.search_spaces.base import SearchSpace

SPACES: Registry[type[SearchSpace]] = Registry("search space")


def get_space(name: str) -> SearchSpace:
    """An instance of the registered search space ``name``."""
    return SPACES.get(name)()


from nni_effnas.search_spaces import nb201 as _nb201  # noqa: E402,F401  (registers "nb201")
from nni_effnas.search_spaces import darts as _darts  # noqa: E402,F401  (registers "darts")

SPACES.load_entry_points("nni_effnas.search_spaces")  # installed packages' spaces (see nni_effnas.registry)

__all__ = ["SPACES", "SearchSpace", "get_space"]
