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


@pytest.mark.parametrize(
    "search_space, message",
    [
        ([{"_type": "choice", "_value": [1]}], "must be a dict of parameter"),
        ({"a": [1, 2]}, r"parameter 'a' is \[1, 2\]; expected"),
        ({"a": {"_type": "choice"}}, "parameter 'a' has no _value; expected"),
        ({"a": {"_value": [1, 2]}}, "parameter 'a' has no _type; expected"),
        ({"a": {"_type": "choice", "_value": 3}}, "'a' has _value 3; expected a non-empty list"),
        ({"a": {"_type": "choice", "_value": "xyz"}}, "'a' has _value 'xyz'; expected a non-empty list"),
        ({"a": {"_type": "choice", "_value": []}}, r"'a' has _value \[\]; expected a non-empty list"),
        ({"a": {"_type": "choice", "_value": [{"_name": "x"}]}}, "'a' uses nested choices"),
    ],
)
def test_from_nni_rejects_malformed_json_in_one_line(search_space, message):
    with pytest.raises(ValueError, match=message) as info:
        CategoricalSpace.from_nni(search_space)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "sample, message",
    [
        ({"x": 1}, r"unknown labels \['x'\]"),
        ({"a": 1, "b": "x"}, "missing label 'c'"),
        ({"a": 9, "b": "x", "c": True}, r"value 9 for 'a' is not one of \[0, 1, 2, 3\]"),
        (None, "must be a dict"),
    ],
)
def test_encode_outside_the_space_names_the_bad_label_or_value(toy_space, sample, message):
    with pytest.raises(ValueError, match=message):
        toy_space.encode(sample)


@pytest.mark.parametrize(
    "indices, message",
    [
        ((99, 0, 0), r"index 99 for 'a' is out of range; expected an integer in 0\.\.3"),
        ((0, 0, -1), r"index -1 for 'c' is out of range; expected an integer in 0\.\.1"),
        ((0, 1.0, 0), r"index 1\.0 for 'b' is out of range; expected an integer in 0\.\.2"),
        ((0,), r"needs 3 choice indices .* got 1"),
        ((0, 0, 0, 0), r"needs 3 choice indices .* got 4"),
    ],
)
def test_decode_rejects_bad_indices(toy_space, indices, message):
    with pytest.raises(ValueError, match=message):
        toy_space.decode(indices)


def test_decode_takes_numpy_indices(toy_space):
    assert toy_space.decode(np.array([3, 0, 1])) == {"a": 3, "b": "x", "c": False}


@pytest.mark.parametrize("choices, message", [
    ([1, 2], "a search space must be a dict of label -> list of choices, got list"),
    ({"a": "xyz"}, "label 'a' has 'xyz'; expected a list of choices"),  # not the choices x, y, z
    ({"a": 5}, "label 'a' has 5; expected a list of choices"),
    ({"a": {"x": 1}}, "expected a list of choices"),
])
def test_from_dict_refuses_what_is_not_a_list_of_choices(choices, message):
    with pytest.raises(ValueError, match=message):
        CategoricalSpace.from_dict(choices)
