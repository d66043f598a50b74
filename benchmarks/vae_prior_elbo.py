"""How much of a trained VAE's KL term is the mismatch between its codes and N(0, I):
the test ELBO against N(0, I) beside the ELBO against Gaussian mixtures fitted to the
training images' codes (posterior samples, and the posterior means that
``model.prior_components`` fits for sampling). The reconstruction term is the same for
every prior; only the KL term, E_q[log q(z|x) - log p(z)], changes (estimated from
--samples draws per image).

    python benchmarks/vae_prior_elbo.py RUN_DIR [--limit 2000] [--samples 20]
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import tensorflow as tf

from aigc_cli.config import DatasetConfig
from aigc_cli.data.sources import load_images
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.metrics.elbo import posterior_samples
from aigc_cli.models.latent_prior import (fit_gaussian_mixture, fit_subset,
                                          mixture_log_density)


def training_codes(model, images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and one posterior sample each of the images the prior's fit reads."""
    chosen = fit_subset(len(images), model.seed)
    means, samples = [], []
    for start in range(0, len(chosen), 1000):
        batch = tf.constant(images[chosen[start:start + 1000]], tf.float32) / 127.5 - 1.0
        drawn = posterior_samples(model, batch, 1, tf.constant([seed, start]))
        means.append(model.encode(batch)[0].numpy())
        samples.append(drawn.latents[0].numpy())
    return np.concatenate(means), np.concatenate(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--limit", type=int, default=2000, help="first N test images")
    parser.add_argument("--samples", type=int, default=20, help="posterior draws per image")
    parser.add_argument("--components", type=int, nargs="+", default=[50, 100])
    args = parser.parse_args()
    model = load_trained_model(args.run_dir).model
    train = load_images(DatasetConfig(split="train")).images
    test = load_images(DatasetConfig(split="test")).images[:args.limit]
    means, samples = training_codes(model, train, seed=0)
    priors = {f"mixture_{k}_of_samples": fit_gaussian_mixture(samples, k, 0)
              for k in args.components}
    priors.update({f"mixture_{k}_of_means": fit_gaussian_mixture(means, k, 0)
                   for k in args.components})
    terms = {name: {"reconstruction": [], "kl": [], "iwae": []}
             for name in ["standard_normal", *priors]}
    k = args.samples
    for start in range(0, len(test), 100):
        x = tf.constant(test[start:start + 100], tf.float32) / 127.5 - 1.0
        drawn = posterior_samples(model, x, k, tf.constant([1, start]))
        flat = tf.reshape(drawn.latents, (-1, drawn.latents.shape[-1]))
        log_px = tf.reshape(model.log_likelihood(tf.tile(x, (k, 1, 1, 1)),
                                                 model.decode_params(flat)), (k, -1))
        log_px, log_q = log_px.numpy().astype(np.float64), drawn.log_q.numpy()
        log_priors = {"standard_normal": drawn.log_prior.numpy().astype(np.float64)}
        for name, mixture in priors.items():
            log_priors[name] = mixture_log_density(flat.numpy(), *mixture).reshape(k, -1)
        for name, log_prior in log_priors.items():
            log_w = log_px + log_prior - log_q
            terms[name]["reconstruction"].append(-log_px.mean(axis=0))
            terms[name]["kl"].append((log_q - log_prior).mean(axis=0))
            terms[name]["iwae"].append(-(np.logaddexp.reduce(log_w, axis=0) - math.log(k)))
    report = {}
    for name, parts in terms.items():
        mean = {part: float(np.concatenate(values).mean()) for part, values in parts.items()}
        report[name] = {"neg_elbo_nats": mean["reconstruction"] + mean["kl"],
                        "kl_nats": mean["kl"], "reconstruction_nats": mean["reconstruction"],
                        "nll_iw_nats": mean["iwae"]}
    print(json.dumps({"run_dir": args.run_dir, "images": len(test), "samples": k, **report},
                     indent=2))


if __name__ == "__main__":
    main()
