"""Every validation rule of DreamerConfig, one field at a time."""

import dataclasses

import pytest

from dreamer_tf.config import (
    ACTIVATIONS,
    ACTOR_DISTS,
    ACTOR_GRADS,
    AGENTS,
    EXPLORATIONS,
    OBSERVATIONS,
    PRECISIONS,
    REPRESENTATIONS,
    TRAIN_ACTIONS,
    VALUE_ESTIMATORS,
    DreamerConfig,
)

POSITIVE = [
    *("cnn_depth", "deter_size", "stoch_size", "rssm_hidden", "num_units"),
    *("horizon", "batch_size", "batch_length", "action_repeat", "time_limit"),
    "image_size",
    *("envs", "nstep", "model_lr", "value_lr", "actor_lr", "adam_epsilon"),
    *("grad_clip", "eval_episodes", "actor_init_std", "actor_mean_scale"),
    "slow_target_every",
]
NUMBERS = [
    field.name
    for field in dataclasses.fields(DreamerConfig)
    if field.type in ("int", "float")
]
CHOICES = {
    "agent": AGENTS,
    "actor_grad": ACTOR_GRADS,
    "cnn_activation": ACTIVATIONS,
    "dense_activation": ACTIVATIONS,
    "actor_dist": ACTOR_DISTS,
    "representation": REPRESENTATIONS,
    "value_estimator": VALUE_ESTIMATORS,
    "exploration": EXPLORATIONS,
    "train_action": TRAIN_ACTIONS,
    "observation": OBSERVATIONS,
    "precision": PRECISIONS,
}
NON_NEGATIVE = [
    name for name in NUMBERS if name not in POSITIVE and name not in CHOICES
]


def test_every_positive_field_is_a_number():
    assert set(POSITIVE) <= set(NUMBERS)


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("value", [0, -3])
def test_positive_fields_reject_zero_and_negatives_alike(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be > 0, got {value}"):
        DreamerConfig(**{name: value})


@pytest.mark.parametrize("name", NON_NEGATIVE)
def test_other_numbers_reject_negatives_and_accept_zero(name):
    with pytest.raises(ValueError, match=f"^{name} must be >= 0"):
        DreamerConfig(**{name: -1})
    assert getattr(DreamerConfig(**{name: 0}), name) == 0


@pytest.mark.parametrize("name, choices", sorted(CHOICES.items()))
def test_choices(name, choices):
    for choice in choices:
        if name == "representation" and choice == "contrastive":
            continue
        assert getattr(DreamerConfig(**{name: choice}), name) == choice
    with pytest.raises(ValueError, match=f"^{name} must be one of"):
        DreamerConfig(**{name: "nonsense" if isinstance(choices[0], str) else 8})


@pytest.mark.parametrize("name", ["lambda_", "discount"])
def test_unit_interval(name):
    for value in (0.0, 1.0):
        assert getattr(DreamerConfig(**{name: value}), name) == value
    for value in (-0.01, 1.01):
        with pytest.raises(ValueError, match=f"^{name} must"):
            DreamerConfig(**{name: value})


def test_batch_length_needs_two_steps():
    assert DreamerConfig(batch_length=2).batch_length == 2
    with pytest.raises(ValueError, match="^batch_length must be >= 2"):
        DreamerConfig(batch_length=1)


def test_contrastive_needs_pixels():
    assert DreamerConfig(representation="contrastive").observation == "pixels"
    with pytest.raises(ValueError, match="contrastive"):
        DreamerConfig(representation="contrastive", observation="proprio")
