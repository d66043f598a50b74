"""Noise models that turn clean images into (noisy, clean, sigma) denoising pairs.

The published convention: images in [0, 1], additive white Gaussian noise of
std-dev sigma/255, the noisy image not clipped. What users bring differs, so
``dataset.noise`` (training) and ``aigc eval``'s flags (measurement) add, each
for its reason:

- Poisson-Gaussian noise, variance ``a·x + b`` with ``b = (sigma/255)^2``: a
  camera's shot noise grows with the light a pixel caught (Foi et al. 2008,
  "Practical Poissonian-Gaussian noise modeling"), here in its heteroscedastic
  Gaussian form.
- Clipping to [0, 1] and rounding to 256 levels: a noisy photo is a saved
  8-bit file; clipping removes part of the noise in dark and bright regions, so
  a model trained only on unclipped noise over-smooths there.
- JPEG re-compression of the noisy image: most shared photos were; the codec
  turns white noise into blocky, correlated noise.

One implementation, :func:`degrade`, serves training (random draws from
stateless seeds, reproducible per seed and step) and evaluation (numpy draws,
so that the published Gaussian figures stay bit for bit what they were).
"""

from __future__ import annotations

import tensorflow as tf


def value_range(value: float | tuple[float, ...]) -> tuple[float, float]:
    """(low, high) from a ``dataset.noise`` value: one number, or [low, high]."""
    return (float(value), float(value)) if isinstance(value, (int, float)) else \
        (float(value[0]), float(value[1]))


def degrade(clean: tf.Tensor, unit_noise: tf.Tensor, sigma: tf.Tensor,
            poisson_gain: tf.Tensor | None = None, eight_bit: tf.Tensor | None = None,
            jpeg_quality: tf.Tensor | None = None) -> tf.Tensor:
    """The noisy image: clean [N, H, W, C] in [0, 1] plus ``unit_noise`` (N(0, 1), same
    shape) scaled to std-dev sqrt(poisson_gain·clean + sigma^2); then, per image,
    clipped and rounded to 8 bits where ``eight_bit``, and JPEG-compressed at
    ``jpeg_quality`` where it is above 0 (which clips and rounds too).

    ``sigma``, ``poisson_gain`` [N] are in [0, 1] units; ``eight_bit`` [N] bool;
    ``jpeg_quality`` [N] int32. None leaves that step out.
    """
    per_image = (slice(None), None, None, None)
    std = sigma[per_image]
    if poisson_gain is not None:
        std = tf.sqrt(poisson_gain[per_image] * clean + std ** 2)
    noisy = clean + unit_noise * std
    if eight_bit is None and jpeg_quality is None:
        return noisy  # the published convention: nothing more on the pipeline's hot path
    stored = tf.round(tf.clip_by_value(noisy, 0.0, 1.0) * 255.0) / 255.0  # an 8-bit file
    if eight_bit is not None:
        noisy = tf.where(eight_bit[per_image], stored, noisy)
    if jpeg_quality is not None:
        # From the 8-bit image: the codec's own float-to-uint8 step floors, which would
        # darken every image by a fraction of a level. Images that draw no JPEG skip it.
        def compress(pair):
            image, quality = pair
            return tf.cond(quality > 0, lambda: tf.image.adjust_jpeg_quality(
                tf.cast(image, tf.float32), quality), lambda: tf.cast(image, tf.float32))

        compressed = tf.cast(tf.map_fn(compress, (stored, jpeg_quality),
                                       fn_output_signature=tf.float32), noisy.dtype)
        noisy = tf.where((jpeg_quality > 0)[per_image], compressed, noisy)
    return noisy


def equivalent_sigma(clean: tf.Tensor, sigma: tf.Tensor,
                     poisson_gain: tf.Tensor | None) -> tf.Tensor:
    """[N] the std-dev of white noise with the same power: sqrt(a·mean(x) + sigma^2). The
    noise level a scalar-conditioned denoiser (and BM3D) is told."""
    if poisson_gain is None:
        return sigma
    mean = tf.reduce_mean(clean, axis=[1, 2, 3])
    return tf.sqrt(poisson_gain * mean + sigma ** 2)


#: Box side, pixels, of the local intensity a noise level map reads: the noise averages
#: out, the shading stays (blind inference's maps use it too: inference/noise_level.py).
LEVEL_MAP_BOX = 7


def level_map(clean: tf.Tensor, sigma: tf.Tensor, poisson_gain: tf.Tensor) -> tf.Tensor:
    """[N, H, W, 1] the noise std-dev sqrt(a·x + sigma^2) at each pixel's intensity x, the
    channels' mean averaged over a LEVEL_MAP_BOX square (over the pixels inside the image
    at its edges)."""
    intensity = tf.nn.avg_pool2d(tf.reduce_mean(clean, axis=-1, keepdims=True),
                                 LEVEL_MAP_BOX, 1, "SAME")
    per_image = (slice(None), None, None, None)
    return tf.sqrt(poisson_gain[per_image] * intensity + sigma[per_image] ** 2)


def add_noise(clean: tf.Tensor, noise, seed: tf.Tensor):
    """clean [N, H, W, C] in [0, 1] → (noisy, clean, sigma [N] in [0, 1] units) under the
    ``dataset.noise`` config ``noise``; with ``noise.level_map`` and a Poisson part, sigma
    is the map [N, H, W, 1] (:func:`level_map`; constant over the Gaussian-only images).

    Each image draws its own sigma (uniform over ``noise.sigma``) and, when set, its
    Poisson gain, 8-bit storage and JPEG quality; ``seed`` is a stateless seed pair, so
    a batch's noise is reproducible. The Gaussian draws are those of earlier versions.
    """
    count = tf.shape(clean)[0]
    low, high = value_range(noise.sigma)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    sigma = tf.random.stateless_uniform((count,), seeds[0], low, high) / 255.0
    if low == high:
        sigma = tf.fill((count,), low / 255.0)
    unit_noise = tf.random.stateless_normal(tf.shape(clean), seeds[1])

    def draw(stream: int, low: float, high: float) -> tf.Tensor:
        return tf.random.stateless_uniform(
            (count,), tf.random.experimental.stateless_fold_in(seed, stream), low, high)

    gain = None
    if noise.poisson_gain is not None:
        gain = draw(1, *value_range(noise.poisson_gain))
        if noise.poisson_probability < 1.0:
            gain = tf.where(draw(5, 0.0, 1.0) < noise.poisson_probability, gain, 0.0)
    eight_bit = draw(2, 0.0, 1.0) < noise.quantize_8bit if noise.quantize_8bit else None
    quality = None
    if noise.jpeg_probability:
        low_q, high_q = (int(q) for q in value_range(noise.jpeg_quality))
        drawn = tf.cast(tf.floor(draw(3, low_q, high_q + 1.0)), tf.int32)
        quality = tf.where(draw(4, 0.0, 1.0) < noise.jpeg_probability,
                           tf.minimum(drawn, high_q), 0)
    noisy = degrade(clean, unit_noise, sigma, gain, eight_bit, quality)
    if noise.level_map and gain is not None:
        # Told one equivalent sigma, a network cannot see where the noise is stronger
        # than it was told: it learns to doubt the level, in Gaussian images too.
        return noisy, clean, level_map(clean, sigma, gain)
    return noisy, clean, equivalent_sigma(clean, sigma, gain)
