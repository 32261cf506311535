import numpy as np
import pytest

from nni_effnas.space import CategoricalSpace


def test_nni_json_round_trip(toy_space):
    assert CategoricalSpace.from_nni(toy_space.to_nni()) == toy_space
    assert toy_space.to_nni()["b"] == {"_type": "choice", "_value": ["x", "y", "z"]}


def test_size_and_labels(toy_space):
    assert toy_space.size == 24
    assert toy_space.labels == ("a", "b", "c")


def test_sample_is_seeded_and_valid(toy_space):
    a = [toy_space.sample(np.random.default_rng(3)) for _ in range(5)]
    b = [toy_space.sample(np.random.default_rng(3)) for _ in range(5)]
    assert a == b
    for s in a:
        assert toy_space.validate(s) == s


def test_encode_decode(toy_space):
    s = {"a": 2, "b": "z", "c": False}
    assert toy_space.encode(s) == (2, 2, 1)
    assert toy_space.decode((2, 2, 1)) == s


@pytest.mark.parametrize(
    "sample, message",
    [
        ({"a": 9, "b": "x", "c": True}, "value 9 for 'a'"),
        ({"a": 1, "b": "x"}, "missing label 'c'"),
        ({"a": 1, "b": "x", "c": True, "d": 1}, "unknown labels"),
        ("abc", "must be a dict"),
    ],
)
def test_validate_names_the_bad_value(toy_space, sample, message):
    with pytest.raises(ValueError, match=message):
        toy_space.validate(sample)


def test_from_nni_rejects_non_choice():
    with pytest.raises(ValueError, match="'lr' has _type 'loguniform'"):
        CategoricalSpace.from_nni({"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})


def test_empty_and_duplicate_choices_rejected():
    with pytest.raises(ValueError, match="no choices"):
        CategoricalSpace.from_dict({"a": []})
    with pytest.raises(ValueError, match="duplicate"):
        CategoricalSpace.from_dict({"a": [1, 1]})
