"""What a VAE's latent carries about the image, on the evaluation split.

- ``kl_nats``: the mean KL(q(z|x) || p(z)) per image, in nats: the information the
  latent holds (a posterior equal to the prior holds none); with two levels of
  latents, also ``kl_nats_per_group`` (one posterior draw per image of the top
  latent, the KL of each level closed form given it, as the ELBO's).
- ``active_units``: latent dimensions whose posterior mean varies across the
  images, Cov_x(E_q(z|x)[z_d]) > 0.01 (Burda et al. 2016, IWAE, section 5.2); an
  inactive dimension encodes nothing, whatever its KL.
- ``reconstruction_psnr``: the posterior mean decoded (``model.reconstruct``), per
  image against its input in 0-255 units, averaged over images.
- ``reconstruction_fid``: FID between the reconstructions and the very images they
  came from, in the FID's feature space: whether decoded images keep what tells
  them apart (a decoder that returns each class's average scores a good PSNR on
  flat images and a bad FID).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aigc_cli.data.sources import ImageSet
from aigc_cli.io.images import to_uint8
from aigc_cli.io.progress import progress
from aigc_cli.metrics.elbo import posterior_samples
from aigc_cli.metrics.features import load_feature_extractor
from aigc_cli.metrics.fid import frechet_distance, statistics

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016's threshold on the posterior mean's variance
PSNR_CAP_DB = 100.0  # an exact reconstruction; keeps the mean finite


def active_units(posterior_means: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many latent dimensions of posterior means [N, D] vary by more than ``threshold``."""
    variance = np.var(np.asarray(posterior_means, np.float64), axis=0)
    return int(np.sum(variance > threshold))


def psnr_uint8(estimates: np.ndarray, references: np.ndarray) -> np.ndarray:
    """PSNR in dB per image of uint8 images [N, H, W, C] (peak 255), capped at 100 dB."""
    difference = estimates.astype(np.float64) - references.astype(np.float64)
    mse = np.mean(np.square(difference).reshape(len(estimates), -1), axis=1)
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(255.0 ** 2 / mse)
    return np.minimum(values, PSNR_CAP_DB)


def encode_and_reconstruct(model, images: np.ndarray, batch_size: int = 500, seed: int = 0,
                           quiet: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior means [N, D], KL per image and dimension [N, D] (nats) and uint8
    reconstructions of uint8 images [N, H, W, C]."""
    @tf.function(reduce_retracing=True)
    def encode_decode(x, index):
        z_mean, _ = model.encode(x)
        kl = posterior_samples(model, x, 1, tf.stack([seed, index])).kl_per_dim[0]
        return z_mean, kl, model.decode_mean(z_mean)

    means, kls, reconstructions = [], [], []
    starts = range(0, len(images), batch_size)
    for index, start in enumerate(progress(starts, "latent", quiet, unit="batch")):
        x = tf.constant(images[start:start + batch_size], tf.float32) / 127.5 - 1.0
        z_mean, kl, decoded = encode_decode(x, tf.constant(index, tf.int32))
        means.append(z_mean.numpy())
        kls.append(kl.numpy())
        reconstructions.append(to_uint8(decoded.numpy()))
    return np.concatenate(means), np.concatenate(kls), np.concatenate(reconstructions)


def evaluate_latent(model, data: ImageSet, options: dict) -> dict:
    """``kl_nats``, ``active_units``, ``reconstruction_psnr`` and ``reconstruction_fid``
    (see the module doc) over the evaluation images."""
    means, kl, reconstructions = encode_and_reconstruct(
        model, data.images, seed=int(options.get("seed", 0)), quiet=options.get("quiet", True))
    extractor = load_feature_extractor(options["dataset"], options.get("feature_extractor"))
    real, decoded = statistics(extractor(data.images)), statistics(extractor(reconstructions))
    groups = getattr(model, "latent_groups", {})
    per_group = {}
    if len(groups) > 1:
        ends = np.cumsum(list(groups.values()))
        per_group = {"kl_nats_per_group": {
            name: float(np.mean(np.sum(kl[:, end - size:end], axis=1), dtype=np.float64))
            for (name, size), end in zip(groups.items(), ends)}}
    return {"kl_nats": float(np.mean(np.sum(kl, axis=1), dtype=np.float64)), **per_group,
            "active_units": active_units(means), "latent_dim": int(means.shape[1]),
            "reconstruction_psnr": float(np.mean(psnr_uint8(reconstructions, data.images))),
            "reconstruction_fid": frechet_distance(*real, *decoded),
            **getattr(model, "prior_record", dict)()}
