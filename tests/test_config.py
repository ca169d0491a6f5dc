"""Tests of the validated hyperparameter dataclass."""

import dataclasses

import pytest

from dreamer_tf.config import DreamerConfig


class TestDreamerConfig:
    def test_paper_defaults(self):
        config = DreamerConfig()
        assert (config.stoch_size, config.deter_size, config.num_units) == (
            30,
            200,
            400,
        )
        assert (config.horizon, config.discount, config.lambda_) == (15, 0.99, 0.95)
        assert (config.model_lr, config.value_lr, config.actor_lr) == (6e-4, 8e-5, 8e-5)
        assert (config.free_nats, config.kl_scale, config.grad_clip) == (
            3.0,
            1.0,
            100.0,
        )
        assert (config.batch_size, config.batch_length) == (50, 50)

    def test_is_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            DreamerConfig().horizon = 3

    def test_every_field_has_help(self):
        for field in dataclasses.fields(DreamerConfig):
            assert field.metadata.get("help"), field.name

    @pytest.mark.parametrize(
        "changes, field",
        [
            ({"deter_size": -1}, "deter_size"),
            ({"stoch_size": 0}, "stoch_size"),
            ({"lambda_": 1.5}, "lambda_"),
            ({"discount": -0.1}, "discount"),
            ({"dense_activation": "sigmoidish"}, "dense_activation"),
            ({"actor_dist": "beta"}, "actor_dist"),
            ({"representation": "pixels"}, "representation"),
            ({"value_estimator": "td"}, "value_estimator"),
        ],
    )
    def test_invalid_values_name_the_field(self, changes, field):
        with pytest.raises(ValueError, match=field):
            DreamerConfig(**changes)

    def test_replace_rejects_unknown_fields(self):
        with pytest.raises(ValueError, match="horizn"):
            DreamerConfig().replace(horizn=3)

    def test_dict_round_trip(self):
        config = DreamerConfig(horizon=7, pcont=True)
        assert DreamerConfig.from_dict(config.to_dict()) == config
