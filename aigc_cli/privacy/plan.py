"""A private run's numbers, from its config and dataset size, before any training:
sampling rate, delta, noise multiplier (given or calibrated), the Poisson batch's
fixed capacity, and the steps the budget allows. ``aigc privacy`` prints this; the
loop trains by it. No TensorFlow."""

from __future__ import annotations

import math
from dataclasses import dataclass

from aigc_cli.config import RunConfig
from aigc_cli.errors import ConfigError
from aigc_cli.privacy.accounting import (PrivacySpend, check_delta, default_delta, epsilon,
                                         noise_for_epsilon, steps_within)


@dataclass(frozen=True)
class PrivacyPlan:
    clip_norm: float
    noise_multiplier: float
    sampling_rate: float
    delta: float  # as configured (or defaulted); the guarantee's is ``total_delta``
    accountant: str
    steps: int  # the configured steps (training.steps or epochs)
    allowed_steps: int  # the most steps within target_epsilon (= steps without a target)
    target_epsilon: float | None
    example_count: int
    batch_capacity: int  # the fixed batch shape a Poisson sample is padded or cut to
    overflow_delta: float  # P(some sample exceeds the capacity during the run)

    @property
    def expected_batch_size(self) -> float:
        return self.sampling_rate * self.example_count

    @property
    def total_delta(self) -> float:
        """delta plus the chance that a sample was cut to the capacity: outside that
        event the run is exactly the Poisson-sampled mechanism accounted."""
        return self.delta + self.overflow_delta

    def spend(self, step: int) -> PrivacySpend:
        """What ``step`` steps have spent: epsilon at ``delta`` (the guarantee holds at
        ``total_delta``, at most 1% above it)."""
        return PrivacySpend(epsilon=epsilon(self.noise_multiplier, self.sampling_rate, step,
                                            self.delta, self.accountant),
                            delta=self.delta, noise_multiplier=self.noise_multiplier,
                            sampling_rate=self.sampling_rate, steps=step,
                            accountant=self.accountant, clip_norm=self.clip_norm)

    def manifest(self) -> dict:
        """The plan as manifest.json records it when the run starts."""
        return {**self.settings(), "target_epsilon": self.target_epsilon,
                "planned_steps": self.allowed_steps, "total_delta": self.total_delta,
                "batch_capacity": self.batch_capacity, "training_images": self.example_count}

    def settings(self) -> dict:
        """What a resumed run must share with the run it continues."""
        return {"clip_norm": self.clip_norm, "noise_multiplier": self.noise_multiplier,
                "sampling_rate": self.sampling_rate, "delta": self.delta,
                "accountant": self.accountant}


def plan_privacy(config: RunConfig, example_count: int) -> PrivacyPlan:
    """The plan of ``config`` (whose ``training.privacy`` is set) on ``example_count``
    training images; ConfigError where it cannot be met."""
    privacy = config.training.privacy
    config = config.with_epochs_resolved(example_count)
    steps, batch_size = config.training.steps, config.training.batch_size
    if batch_size > example_count:
        raise ConfigError(f"training.batch_size {batch_size} is above the {example_count} "
                          "training images; a private run samples each image with "
                          "probability batch_size / N", key="training.batch_size")
    sampling_rate = batch_size / example_count
    delta = privacy.delta if privacy.delta is not None else default_delta(example_count)
    check_delta(delta, example_count)
    if privacy.noise_multiplier is not None:
        noise = privacy.noise_multiplier
        allowed = (steps if privacy.target_epsilon is None else
                   steps_within(privacy.target_epsilon, noise, sampling_rate, delta,
                                privacy.accountant, limit=steps))
        if allowed == 0:
            raise ConfigError(
                f"training.privacy.noise_multiplier {noise:g} spends more than target_epsilon "
                f"{privacy.target_epsilon:g} in one step; raise the noise, or leave it out to "
                "have it calibrated", key="training.privacy.noise_multiplier")
    else:
        noise = noise_for_epsilon(privacy.target_epsilon, sampling_rate, steps, delta,
                                  privacy.accountant)
        allowed = steps
    capacity, overflow = batch_capacity(example_count, sampling_rate, steps, delta / 100)
    return PrivacyPlan(clip_norm=privacy.clip_norm, noise_multiplier=noise,
                       sampling_rate=sampling_rate, delta=delta, accountant=privacy.accountant,
                       steps=steps, allowed_steps=allowed, target_epsilon=privacy.target_epsilon,
                       example_count=example_count, batch_capacity=capacity,
                       overflow_delta=overflow)


def batch_capacity(example_count: int, sampling_rate: float, steps: int,
                   budget: float) -> tuple[int, float]:
    """The smallest batch shape c such that, over ``steps`` Poisson samples, the chance
    that any one holds more than c examples is at most ``budget`` (a union bound on the
    binomial tail); and that chance."""
    from scipy.stats import binom

    mean = example_count * sampling_rate
    capacity = math.ceil(mean)
    while capacity < example_count and \
            steps * binom.sf(capacity, example_count, sampling_rate) > budget:
        capacity += max(1, int(math.sqrt(mean) / 8))
    return capacity, float(steps * binom.sf(capacity, example_count, sampling_rate))
