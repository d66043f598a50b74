"""EDM's formulas (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
Generative Models", https://arxiv.org/abs/2206.00364; NVlabs/edm): preconditioning, the
training loss weight, the sampling schedule and the deterministic ODE samplers.

The probability-flow ODE is dx/dsigma = (x - D(x; sigma)) / sigma (EDM eq. 3 with
sigma(t) = t), from x ~ N(0, sigma_max^2 I) at sigma_max down to sigma = 0.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SAMPLERS = ("heun", "euler", "dpmpp_2m")


def preconditioning(sigma: tf.Tensor, sigma_data: float):
    """(c_skip, c_out, c_in, c_noise) of EDM Table 1: D(x) = c_skip x + c_out F(c_in x;
    c_noise). Unit-variance network input and target at every sigma."""
    variance = tf.square(sigma) + sigma_data ** 2
    c_skip = sigma_data ** 2 / variance
    c_out = sigma * sigma_data / tf.sqrt(variance)
    c_in = 1.0 / tf.sqrt(variance)
    c_noise = tf.math.log(sigma) / 4.0
    return c_skip, c_out, c_in, c_noise


def loss_weight(sigma: tf.Tensor, sigma_data: float) -> tf.Tensor:
    """lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 (EDM Table 1): the
    weight that makes the effective target of F unit-variance (lambda c_out^2 = 1)."""
    return (tf.square(sigma) + sigma_data ** 2) / tf.square(sigma * sigma_data)


def sigma_schedule(steps: int, sigma_min: float, sigma_max: float, rho: float) -> np.ndarray:
    """The ``steps`` noise levels the sampler visits, then 0 (EDM eq. 5):
    sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho."""
    if steps == 1:
        return np.array([sigma_max, 0.0])
    ramp = np.linspace(0.0, 1.0, steps)
    inverse = sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))
    return np.append(inverse ** rho, 0.0)


def evaluations(sampler: str, steps: int) -> int:
    """Network evaluations per image (NFE) of ``sampler`` over ``steps`` noise levels:
    Heun's second evaluation is skipped on the last step, to sigma = 0 (EDM Alg. 1)."""
    return 2 * steps - 1 if sampler == "heun" else steps


def sample(denoise, x: tf.Tensor, sigmas: np.ndarray, sampler: str) -> tf.Tensor:
    """Solve the ODE from ``x`` (noise at sigmas[0]) through ``sigmas`` (ending at 0) with
    ``sampler``; ``denoise(x, sigma)`` is D with sigma a scalar tensor. One
    ``tf.while_loop`` over the steps (compiled with its caller), then the last step to 0,
    which is Euler's for every sampler: x becomes D(x; sigma_last)."""
    sigmas = tf.constant(sigmas, tf.float32)
    last = int(sigmas.shape[0]) - 2  # the index of the last nonzero sigma
    step = {"euler": _euler_step, "heun": _heun_step, "dpmpp_2m": _dpmpp_2m_step}[sampler]

    def body(i, x, previous):
        x, previous = step(denoise, x, previous, sigmas, i)
        return i + 1, x, previous

    _, x, _ = tf.while_loop(lambda i, x, previous: i < last, body,
                            (tf.constant(0), x, tf.zeros_like(x)))
    return denoise(x, sigmas[last])


def _euler_step(denoise, x, previous, sigmas, i):
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    slope = (x - denoise(x, sigma)) / sigma
    return x + (sigma_next - sigma) * slope, previous


def _heun_step(denoise, x, previous, sigmas, i):
    """EDM Algorithm 1 without churn: Euler, then the trapezoidal correction."""
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    slope = (x - denoise(x, sigma)) / sigma
    guess = x + (sigma_next - sigma) * slope
    slope_next = (guess - denoise(guess, sigma_next)) / sigma_next
    return x + (sigma_next - sigma) * 0.5 * (slope + slope_next), previous


def _dpmpp_2m_step(denoise, x, previous, sigmas, i):
    """DPM-Solver++(2M) (Lu et al. 2022, https://arxiv.org/abs/2211.01095, Alg. 2) in
    t = -log sigma: a second-order multistep update from this and the last denoised
    image (first order on the first step, where there is no last one)."""
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    denoised = denoise(x, sigma)
    h = tf.math.log(sigma) - tf.math.log(sigma_next)
    sigma_before = sigmas[tf.maximum(i - 1, 0)]
    ratio = (tf.math.log(sigma_before) - tf.math.log(sigma)) / h
    corrected = denoised + (denoised - previous) / (2.0 * tf.maximum(ratio, 1e-8))
    estimate = tf.where(i > 0, corrected, denoised)
    return (sigma_next / sigma) * x - tf.math.expm1(-h) * estimate, denoised
