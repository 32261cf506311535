import pytest

from nni_effnas.registry import Registry


def test_register_get_and_aliases():
    reg = Registry("thing")

    @reg.register("alpha", aliases=("a",))
    class Alpha:
        pass

    assert reg.get("alpha") is Alpha
    assert reg.get("a") is Alpha
    assert reg.get("ALPHA") is Alpha
    assert reg.names() == ["alpha"]
    assert "a" in reg and "beta" not in reg


def test_hyphens_map_to_underscores():
    reg = Registry("thing")
    reg.add("nni_tpe", object)
    assert reg.canonical("nni-tpe") == "nni_tpe"


def test_duplicate_name_raises():
    reg = Registry("thing")
    reg.add("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("alpha", 2)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("beta", 3, aliases=("alpha",))


def test_unknown_name_lists_known_ones():
    reg = Registry("strategy")
    reg.add("random", 1)
    reg.add("evolution", 2)
    with pytest.raises(ValueError, match=r"unknown strategy 'nope'; expected one of: evolution, random"):
        reg.get("nope")


def test_uppercase_key_rejected():
    with pytest.raises(ValueError, match="lowercase"):
        Registry("thing").add("Alpha", 1)
