"""The accountant against published vectors, and calibration round trips."""

import pytest

from aigc_cli.errors import ConfigError
from aigc_cli.privacy.accounting import (check_delta, default_delta, epsilon,
                                         noise_for_epsilon, steps_within)


def test_opacus_accountant_vector():
    # Opacus' accountant tests: noise 1.5, sampling rate 0.04, 2,250 steps, delta 1e-5
    # give RDP ~7.33 and PRV ~6.78; dp-accounting's PLD is the tight one of the two.
    assert epsilon(1.5, 0.04, 2250, 1e-5, "rdp") == pytest.approx(7.33, abs=0.01)
    assert epsilon(1.5, 0.04, 2250, 1e-5, "pld") == pytest.approx(6.77, abs=0.02)


def test_more_steps_or_less_noise_spend_more():
    base = epsilon(1.1, 0.01, 1000, 1e-5, "rdp")
    assert epsilon(1.1, 0.01, 2000, 1e-5, "rdp") > base > epsilon(1.5, 0.01, 1000, 1e-5, "rdp")
    assert epsilon(1.1, 0.01, 0, 1e-5) == 0.0


@pytest.mark.parametrize("accountant", ["rdp", "pld"])
def test_target_epsilon_calibration_round_trip(accountant):
    noise = noise_for_epsilon(3.0, 0.02, 500, 1e-5, accountant)
    assert epsilon(noise, 0.02, 500, 1e-5, accountant) == pytest.approx(3.0, rel=0.01)
    assert epsilon(noise * 0.95, 0.02, 500, 1e-5, accountant) > 3.0  # the smallest that fits


def test_an_unreachable_target_is_a_config_error():
    with pytest.raises(ConfigError, match="target_epsilon"):
        noise_for_epsilon(1e-6, 1.0, 10**6, 1e-9, "rdp")


def test_steps_within_a_budget():
    allowed = steps_within(2.0, 1.0, 0.01, 1e-5, "rdp", limit=5000)
    assert epsilon(1.0, 0.01, allowed, 1e-5, "rdp") <= 2.0 < \
        epsilon(1.0, 0.01, allowed + 1, 1e-5, "rdp")
    assert steps_within(100.0, 1.0, 0.01, 1e-5, "rdp", limit=50) == 50


def test_delta_stays_below_one_over_n():
    assert default_delta(60000) == pytest.approx(1 / 600000)
    assert default_delta(400) == 1e-5
    check_delta(1e-5, 60000)
    with pytest.raises(ConfigError, match="training.privacy.delta"):
        check_delta(0.01, 200)
