"""The published Keras VAE example, trained for a fixed wall time, then measured
with the same ELBO code as ``aigc eval``.

The model is https://keras.io/examples/generative/vae/ (conv 32/64 stride 2,
Dense 16, latent size 2, Adam at Keras' default learning rate, batch 128, the
Bernoulli reconstruction loss summed over pixels). Two deliberate deviations:
the decoder returns logits and the loss applies the sigmoid inside the
cross-entropy (the same model, numerically stabler), and the data are
Fashion-MNIST's train split, as ``aigc`` trains on.

Usage:
  python benchmarks/keras_vae_reference.py --seconds 480 --out /tmp/keras_vae
prints one JSON object (test-split neg_elbo_nats, nll_iw_nats, FID, what the latent
holds as ``aigc eval`` reports it, steps, images/s).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from aigc_cli.config import DatasetConfig
from aigc_cli.data.sources import load_images
from aigc_cli.io.images import make_grid, save_png, to_uint8
from aigc_cli.metrics.elbo import evaluate_elbo
from aigc_cli.metrics.fid import evaluate_fid
from aigc_cli.metrics.latent import evaluate_latent
from aigc_cli.models.latents import gaussian_kl
from aigc_cli.models.vae import bernoulli_log_likelihood

LATENT_DIM = 2


def build_encoder() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, [layers.Dense(LATENT_DIM)(x), layers.Dense(LATENT_DIM)(x)])


def build_decoder() -> keras.Model:
    latents = keras.Input((LATENT_DIM,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latents)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    return keras.Model(latents, layers.Conv2DTranspose(1, 3, padding="same")(x))  # logits


class ExampleVAE:
    """The example's networks behind the interface ``metrics.elbo`` and ``metrics.fid``
    measure."""

    likelihood = "bernoulli"
    latent_dim = LATENT_DIM

    def __init__(self):
        self.encoder, self.decoder = build_encoder(), build_decoder()

    def encode(self, images):  # images in [-1, 1]; the example's inputs are in [0, 1]
        return self.encoder((images + 1.0) * 0.5, training=False)

    def decode_params(self, z):
        return self.decoder(z, training=False)

    def log_likelihood(self, images, logits):
        return bernoulli_log_likelihood((images + 1.0) * 0.5, logits)

    def decode_mean(self, latents):  # the decoder's mean image, in [-1, 1]
        return tf.sigmoid(self.decode_params(latents)) * 2.0 - 1.0

    generate = decode_mean


def train(vae: ExampleVAE, images: np.ndarray, seconds: float, seed: int) -> dict:
    optimizer = keras.optimizers.Adam()
    variables = vae.encoder.trainable_variables + vae.decoder.trainable_variables
    dataset = (tf.data.Dataset.from_tensor_slices(images.astype(np.float32) / 255.0)
               .shuffle(len(images), seed=seed).repeat().batch(128, drop_remainder=True)
               .prefetch(tf.data.AUTOTUNE))
    noise = tf.random.Generator.from_seed(seed)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = vae.encoder(x, training=True)
            z = z_mean + tf.exp(0.5 * z_log_var) * noise.normal(tf.shape(z_mean))
            reconstruction = -bernoulli_log_likelihood(x, vae.decoder(z, training=True))
            loss = tf.reduce_mean(reconstruction + gaussian_kl(z_mean, z_log_var))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    steps, started = 0, time.monotonic()
    for batch in dataset:
        loss = step(batch)
        steps += 1
        if time.monotonic() - started >= seconds:
            break
    elapsed = time.monotonic() - started
    return {"steps": steps, "train_seconds": round(elapsed, 1),
            "images_per_sec": round(steps * 128 / elapsed, 1), "last_train_loss": float(loss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=480.0)
    parser.add_argument("--importance-samples", type=int, default=100)
    parser.add_argument("--fid-samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/keras_vae_reference"))
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    vae = ExampleVAE()
    report = {"model": "keras.io VAE example (latent 2)"}
    report.update(train(vae, load_images(DatasetConfig(split="train")).images, args.seconds,
                        args.seed))
    test = load_images(DatasetConfig(split="test"))
    options = {"importance_samples": args.importance_samples, "seed": args.seed,
               "dataset": DatasetConfig(split="test"), "fid_samples": args.fid_samples}
    report.update(evaluate_elbo(vae, test, options))
    report.update(evaluate_fid(vae, test, options))
    report.update(evaluate_latent(vae, test, options))
    latents = np.random.default_rng(args.seed).standard_normal((64, LATENT_DIM))
    prior = vae.generate(tf.constant(latents, tf.float32)).numpy()
    args.out.mkdir(parents=True, exist_ok=True)
    save_png(make_grid(to_uint8(prior)), args.out / "prior_samples.png")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
