"""A golden DreamerV2 update: two training steps pinned to their values.

The values below are what DreamerV2 gave at commit dfdb346 on a tiny config
(categorical latents, KL balancing, weight decay, a target critic copied
every two value updates) with fixed weights (the target critic's too), a
fixed batch and shape-determined noise for every sampler: Gaussian, one-hot
(Gumbel-max) and truncated normal (inverse CDF), see ``fixed_noise.py``. The
parts of the update are checked one by one against independent computations
in ``learning/test_dreamerv2_math.py``; this test pins how they add up. A
change that fails it changed the update: keep the values, or explain in the
change's note why the math changed and regenerate them with
``python tests/test_golden_update_v2.py``.
"""

import json
import sys

import numpy as np
import tensorflow as tf
from support.fixed_noise import (
    PARTS,
    fixed_batch,
    fixed_sampling_noise,
    fixed_v2_agent,
)
from support.golden import assert_golden_value, change_checksums, flat
from support.tiny import tiny_config

V2 = {
    "agent": "dreamerv2",
    "rssm_classes": 4,
    "kl_balance": 0.8,
    "weight_decay": 1e-6,
    "slow_target_every": 2,
}
CASES = {
    # Truncated-normal actor, dynamics gradient, free nats on the mean KL.
    "continuous": {"free_nats": 0.0},
    # One-hot actor, REINFORCE with the target critic as baseline, learned
    # discounts (d_0 from the batch), free nats on each KL.
    "discrete_pcont": {"pcont": True, "free_nats": 0.1, "kl_free_average": False},
}
ONE_HOT = {"continuous": False, "discrete_pcont": True}


def golden_batch(config, one_hot: bool, seed: int) -> dict:
    """:func:`fixed_batch`, with one-hot actions for a discrete agent."""
    batch = fixed_batch(config, seed=seed)
    if one_hot:
        rng = np.random.default_rng(seed)
        indices = rng.integers(0, 2, batch["action"].shape[:2])
        batch["action"] = np.eye(2, dtype=np.float32)[indices]
    return batch


def _trained_variables(agent) -> dict:
    variables = {part: getattr(agent, f"{part}_variables") for part in PARTS}
    variables["target"] = agent.actor_critic.target_value.variables
    return variables


def golden_values(case: str) -> dict[str, float]:
    """Metrics of two updates and checksums of the weight changes."""
    config = tiny_config(**V2, **CASES[case])
    agent = fixed_v2_agent(config, one_hot=ONE_HOT[case])
    before = {part: flat(v) for part, v in _trained_variables(agent).items()}
    values = {}
    with fixed_sampling_noise():
        for step in range(2):
            batch = golden_batch(config, ONE_HOT[case], seed=step)
            metrics = agent.train(batch)
            values.update(
                {f"{step}/{key}": float(value) for key, value in metrics.items()}
            )
    values.update(change_checksums(before, _trained_variables(agent)))
    return values


# Values at commit dfdb346 (python tests/test_golden_update_v2.py).
GOLDEN = {
    "continuous": {
        "0/action_entropy": 1.3284575939178467,
        "0/actor_entropy": 1.334528923034668,
        "0/actor_grad_norm": 0.015299067832529545,
        "0/actor_loss": 0.07376742362976074,
        "0/critic": 0.052420198917388916,
        "0/critic_slow": -0.19428031146526337,
        "0/image_loss": 11967.0263671875,
        "0/imagined_return": -0.07573583722114563,
        "0/kl": 0.12351439148187637,
        "0/kl_loss": 0.12351439148187637,
        "0/model_grad_norm": 1126.843017578125,
        "0/model_loss": 11968.5751953125,
        "0/posterior_entropy": 5.4793829917907715,
        "0/prior_entropy": 5.510267734527588,
        "0/reward_loss": 1.4259685277938843,
        "0/update_skipped": 0.0,
        "0/value_grad_norm": 0.32695290446281433,
        "0/value_loss": 1.227129340171814,
        "1/action_entropy": 1.3328907489776611,
        "1/actor_entropy": 1.3360984325408936,
        "1/actor_grad_norm": 0.011904189363121986,
        "1/actor_loss": -0.14333486557006836,
        "1/critic": 0.05350309610366821,
        "1/critic_slow": 0.04923302307724953,
        "1/image_loss": 11964.5634765625,
        "1/imagined_return": 0.13790784776210785,
        "1/kl": 0.11174178868532181,
        "1/kl_loss": 0.11174178868532181,
        "1/model_grad_norm": 1117.45849609375,
        "1/model_loss": 11966.259765625,
        "1/posterior_entropy": 5.488780975341797,
        "1/prior_entropy": 5.510827541351318,
        "1/reward_loss": 1.585349678993225,
        "1/update_skipped": 0.0,
        "1/value_grad_norm": 0.24010556936264038,
        "1/value_loss": 1.15724515914917,
        "actor/change_abs_sum": 0.19734135270118713,
        "actor/change_projection": 0.008026711595224147,
        "actor/change_sum": 0.017299536615610123,
        "model/change_abs_sum": 57.98060607910156,
        "model/change_projection": -0.16991463306144325,
        "model/change_sum": 1.7063686847686768,
        "target/change_abs_sum": 263.2379150390625,
        "target/change_projection": -10.121183905011343,
        "target/change_sum": -9.984047889709473,
        "value/change_abs_sum": 0.1263674646615982,
        "value/change_projection": 0.008234715441219353,
        "value/change_sum": -0.0028398907743394375,
    },
    "discrete_pcont": {
        "0/action_entropy": 0.6055521368980408,
        "0/actor_entropy": 0.6231224536895752,
        "0/actor_grad_norm": 0.15132559835910797,
        "0/actor_loss": 0.08598705381155014,
        "0/critic": 0.0509163998067379,
        "0/critic_slow": -0.19020181894302368,
        "0/image_loss": 11967.0263671875,
        "0/imagined_return": 0.009731377474963665,
        "0/kl": 0.12179961055517197,
        "0/kl_loss": 0.12195807695388794,
        "0/model_grad_norm": 1126.916259765625,
        "0/model_loss": 11976.328125,
        "0/pcont_loss": 7.753428936004639,
        "0/posterior_entropy": 5.478756427764893,
        "0/prior_entropy": 5.511798858642578,
        "0/reward_loss": 1.4256788492202759,
        "0/update_skipped": 0.0,
        "0/value_grad_norm": 0.12795045971870422,
        "0/value_loss": 0.7187759280204773,
        "1/action_entropy": 0.6015486717224121,
        "1/actor_entropy": 0.6203950047492981,
        "1/actor_grad_norm": 0.13395452499389648,
        "1/actor_loss": 0.009740334004163742,
        "1/critic": 0.05109388753771782,
        "1/critic_slow": 0.04895520582795143,
        "1/image_loss": 11964.6201171875,
        "1/imagined_return": 0.05896550044417381,
        "1/kl": 0.12038379907608032,
        "1/kl_loss": 0.12126214057207108,
        "1/model_grad_norm": 1117.6177978515625,
        "1/model_loss": 11974.2724609375,
        "1/pcont_loss": 7.955793857574463,
        "1/posterior_entropy": 5.4791436195373535,
        "1/prior_entropy": 5.5123162269592285,
        "1/reward_loss": 1.5756444931030273,
        "1/update_skipped": 0.0,
        "1/value_grad_norm": 0.11727411299943924,
        "1/value_loss": 0.7187085747718811,
        "actor/change_abs_sum": 0.1761011779308319,
        "actor/change_projection": -0.0016489857808982189,
        "actor/change_sum": -0.0051762256771326065,
        "model/change_abs_sum": 61.85637664794922,
        "model/change_projection": -0.0017925256877349312,
        "model/change_sum": 1.6107087135314941,
        "target/change_abs_sum": 263.2337646484375,
        "target/change_projection": 20.728050028630626,
        "target/change_sum": -9.984870910644531,
        "value/change_abs_sum": 0.1545918732881546,
        "value/change_projection": -0.0018002706475345872,
        "value/change_sum": -0.0043767644092440605,
    },
}


class GoldenUpdateV2Test(tf.test.TestCase):
    def _check(self, case: str):
        actual = golden_values(case)
        expected = GOLDEN[case]
        self.assertEqual(sorted(actual), sorted(expected))
        for key in expected:
            assert_golden_value(self, key, actual[key], expected, case)

    def test_continuous_actions(self):
        self._check("continuous")

    def test_discrete_actions_with_learned_discounts(self):
        self._check("discrete_pcont")


if __name__ == "__main__":
    json.dump(
        {case: golden_values(case) for case in CASES},
        sys.stdout,
        indent=1,
        sort_keys=True,
    )
