"""The world-model objective (the paper's Eq. 10 with free nats) against numpy.

The heads' outputs (decoder mean, reward mean, continuation logits) are read
from the model; how they are combined into the loss (preprocessing, the
likelihoods, the KL's direction, free nats on the batch mean, the scales) is
recomputed here in numpy.
"""

import numpy as np
import tensorflow as tf
from support.fixed_noise import assign_fixed_weights, fixed_batch, fixed_normal_noise
from support.tiny import tiny_config

from dreamer_tf.learning.losses import FreeNatsKL
from dreamer_tf.learning.world_model import WorldModel, preprocess_image

LOG_2PI = np.log(2 * np.pi)


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def gaussian_kl(posterior, prior):
    """KL(posterior || prior) of diagonal Gaussians, summed over ``stoch``."""
    mean_1, std_1 = posterior["mean"].numpy(), posterior["std"].numpy()
    mean_2, std_2 = prior["mean"].numpy(), prior["std"].numpy()
    terms = (
        np.log(std_2 / std_1)
        + (std_1**2 + (mean_1 - mean_2) ** 2) / (2 * std_2**2)
        - 0.5
    )
    return terms.sum(-1)


class WorldModelLossTest(tf.test.TestCase):
    def _model(self, **changes):
        config = tiny_config(**changes)
        batch = fixed_batch(config)
        model = WorldModel(config)
        model.loss(batch)
        assign_fixed_weights(model.trainable_variables, seed=5)
        return model, batch

    def _parts(self, model, batch):
        """The model's loss and the heads' raw outputs under the same noise."""
        with fixed_normal_noise():
            loss, _, metrics = model.loss(batch)
            posterior, prior = model(batch)
        features = model.rssm.features(posterior)
        outputs = {
            "reward_mean": model.reward_head(features).mean().numpy(),
            "kl": gaussian_kl(posterior, prior),
        }
        if model.decoder is not None:
            outputs["image_mean"] = model.decoder(features).mean().numpy()
        if model.continue_head is not None:
            head = model.continue_head(features)
            outputs["logits"] = head.distribution.logits.numpy()
        return float(loss), metrics, outputs

    def test_reconstruction_objective(self):
        model, batch = self._model(
            pcont=True, tanh_rewards=True, kl_scale=0.5, pcont_scale=3.0, free_nats=0.0
        )
        loss, metrics, outputs = self._parts(model, batch)
        config = model.config
        pixels = batch["image"].astype(np.float64) / 255.0 - 0.5
        image_ll = np.mean(
            np.sum(
                -0.5 * (pixels - outputs["image_mean"]) ** 2 - 0.5 * LOG_2PI, (2, 3, 4)
            )
        )
        reward_target = np.tanh(batch["reward"])
        reward_ll = np.mean(
            -0.5 * (reward_target - outputs["reward_mean"]) ** 2 - 0.5 * LOG_2PI
        )
        target = batch["discount"] * config.discount
        logits = outputs["logits"]
        pcont_ll = np.mean(
            target * log_sigmoid(logits) + (1 - target) * log_sigmoid(-logits)
        )
        kl = outputs["kl"].mean()
        expected = 0.5 * kl - image_ll - reward_ll - 3.0 * pcont_ll
        self.assertAllClose(metrics["kl"], kl, rtol=1e-4)
        self.assertAllClose(metrics["image_loss"], -image_ll, rtol=1e-5)
        self.assertAllClose(metrics["reward_loss"], -reward_ll, rtol=1e-5)
        self.assertAllClose(metrics["pcont_loss"], -3.0 * pcont_ll, rtol=1e-5)
        self.assertAllClose(loss, expected, rtol=1e-5)

    def test_free_nats_clip_the_batch_mean_kl(self):
        model, batch = self._model(free_nats=0.0)
        _, _, outputs = self._parts(model, batch)
        per_step = outputs["kl"]
        # Between the smallest and the mean KL, clipping per step and clipping
        # the mean differ.
        free_nats = float(per_step.min() + per_step.mean()) / 2
        per_step_clip = np.maximum(per_step, free_nats).mean()
        self.assertGreater(per_step_clip - per_step.mean(), 1e-3)
        for kl_scale in (1.0, 0.25):
            model.kl_loss = FreeNatsKL(kl_scale, free_nats)
            loss, metrics, _ = self._parts(model, batch)
            likelihoods = metrics["image_loss"] + metrics["reward_loss"]
            kl_term = kl_scale * max(per_step.mean(), free_nats)
            self.assertAllClose(loss, kl_term + float(likelihoods), rtol=1e-6)
        model.kl_loss = FreeNatsKL(1.0, 1e3)
        loss, metrics, _ = self._parts(model, batch)
        self.assertAllClose(
            loss, 1e3 + float(metrics["image_loss"] + metrics["reward_loss"]), rtol=1e-6
        )

    def test_rewards_are_not_squashed_by_default(self):
        model, batch = self._model()
        batch["reward"] = 3.0 * batch["reward"]
        _, metrics, outputs = self._parts(model, batch)
        reward_ll = np.mean(
            -0.5 * (batch["reward"] - outputs["reward_mean"]) ** 2 - 0.5 * LOG_2PI
        )
        self.assertAllClose(metrics["reward_loss"], -reward_ll, rtol=1e-5)

    def test_contrastive_bound(self):
        model, batch = self._model(representation="contrastive")
        with fixed_normal_noise():
            _, _, metrics = model.loss(batch)
            posterior, _ = model(batch)
        features = model.rssm.features(posterior).numpy().reshape(-1, 20)
        embed = model.embed(batch).numpy().reshape(len(features), -1)
        means = model.state_model(embed).mean().numpy()
        log_density = -0.5 * np.sum((features[:, None] - means[None]) ** 2, -1)
        bound = np.diag(log_density) - np.log(np.sum(np.exp(log_density), 1))
        self.assertAllClose(metrics["contrastive_loss"], -bound.mean(), rtol=1e-4)

    def test_preprocessing(self):
        image = np.array([0, 255, 128], np.uint8)
        self.assertAllClose(preprocess_image(image), [-0.5, 0.5, 128 / 255 - 0.5])
