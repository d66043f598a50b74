"""What a DP-SGD run spends: epsilon from (noise multiplier, sampling rate, steps, delta),
the noise multiplier a target epsilon needs, and the steps a budget allows.

The mechanism is the Poisson-subsampled Gaussian mechanism composed over the steps
(Abadi et al. 2016, https://arxiv.org/abs/1607.00133), accounted by Google's
dp-accounting: ``pld`` (privacy loss distributions, Koskela et al. 2020; tight) or
``rdp`` (Rényi DP, Mironov 2017; looser, faster). No TensorFlow is imported, so
``aigc privacy`` answers before any training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from aigc_cli.errors import ConfigError

ACCOUNTANTS = ("pld", "rdp")
#: The largest noise multiplier a target epsilon may call for; beyond it the run would
#: learn nothing (the noise is 1000x the clipped signal of one example).
MAX_NOISE_MULTIPLIER = 1000.0


@dataclass(frozen=True)
class PrivacySpend:
    """One run's privacy parameters and what they spend (``manifest.json``, ``aigc
    privacy --json``, ``aigc eval --json`` and the metadata of generated images)."""

    epsilon: float
    delta: float
    noise_multiplier: float
    sampling_rate: float
    steps: int
    accountant: str
    clip_norm: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _event(noise_multiplier: float, sampling_rate: float, steps: int):
    import dp_accounting

    step = dp_accounting.PoissonSampledDpEvent(
        sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
    return dp_accounting.SelfComposedDpEvent(step, steps)


def _accountant(name: str):
    from dp_accounting import pld, rdp

    if name == "pld":
        # A 1e-3 grid of privacy losses (dp-accounting's default is 1e-4): still an upper
        # bound (rounded pessimistically), 0.0007 above the default's epsilon on Opacus'
        # test vector, and 10-20x faster, which ``training.log_every`` pays for.
        return pld.PLDAccountant(value_discretization_interval=1e-3)
    if name == "rdp":
        return rdp.RdpAccountant()
    raise ConfigError(f"unknown accountant '{name}' (choose one of: {', '.join(ACCOUNTANTS)})",
                      key="training.privacy.accountant")


def epsilon(noise_multiplier: float, sampling_rate: float, steps: int, delta: float,
            accountant: str = "pld") -> float:
    """The epsilon of ``steps`` Poisson-sampled Gaussian steps at ``delta``."""
    if steps == 0:
        return 0.0
    ledger = _accountant(accountant)
    ledger.compose(_event(noise_multiplier, sampling_rate, steps))
    return float(ledger.get_epsilon(delta))


def noise_for_epsilon(target_epsilon: float, sampling_rate: float, steps: int, delta: float,
                      accountant: str = "pld") -> float:
    """The smallest noise multiplier whose ``steps`` steps spend at most ``target_epsilon``."""
    import dp_accounting

    if epsilon(MAX_NOISE_MULTIPLIER, sampling_rate, steps, delta, "rdp") > target_epsilon:
        raise ConfigError(
            f"training.privacy.target_epsilon {target_epsilon:g} cannot be met in {steps} "
            f"steps at sampling rate {sampling_rate:.3g}: fewer steps, a smaller "
            "training.batch_size or a larger target", key="training.privacy.target_epsilon")

    def calibrate(name: str, low: float, high: float) -> float:
        return float(dp_accounting.calibrate_dp_mechanism(
            lambda: _accountant(name),
            lambda multiplier: _event(multiplier, sampling_rate, steps),
            target_epsilon, delta, dp_accounting.ExplicitBracketInterval(low, high),
            tol=1e-3 * low))

    # RDP is an upper bound on PLD's epsilon, so its noise is enough for PLD too: PLD's
    # search starts below it (a tiny multiplier would make PLD's grids enormous).
    noise = calibrate("rdp", 1e-2, MAX_NOISE_MULTIPLIER)
    if accountant == "rdp":
        return noise
    low = noise / 2
    while low > 1e-2 and epsilon(low, sampling_rate, steps, delta, "pld") <= target_epsilon:
        low /= 2
    return calibrate("pld", low, noise)


def steps_within(budget: float, noise_multiplier: float, sampling_rate: float, delta: float,
                 accountant: str = "pld", limit: int = 10**9) -> int:
    """The most steps (up to ``limit``) whose epsilon stays within ``budget``."""
    spent = lambda steps: epsilon(noise_multiplier, sampling_rate, steps, delta, accountant)  # noqa: E731
    if spent(limit) <= budget:
        return limit
    low, high = 0, limit  # spent(low) <= budget < spent(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if spent(middle) <= budget else (low, middle)
    return low


def default_delta(example_count: int) -> float:
    """1e-5, or 1/(10·N) where the dataset is larger than 10,000 images: delta must stay
    well below 1/N, the probability of leaking one example outright."""
    return min(1e-5, 1.0 / (10 * example_count))


def check_delta(delta: float, example_count: int) -> None:
    """A delta of 1/N or more allows a mechanism that publishes one example in clear."""
    if delta >= 1.0 / example_count:
        raise ConfigError(
            f"training.privacy.delta {delta:g} is not below 1/N = {1 / example_count:.3g} "
            f"({example_count} training images): such a delta allows releasing an image "
            f"outright; use {default_delta(example_count):.3g} or less",
            key="training.privacy.delta")
