import numpy as np
import pytest

from aigc_cli.config import OptimizerConfig
from aigc_cli.models.optimizers import build_optimizer, scale_learning_rate


def rates(optimizer, steps):
    schedule = optimizer._learning_rate
    return [float(schedule(step)) for step in steps]


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_warmup_ramps_linearly_to_the_rate_then_hands_over(schedule):
    config = OptimizerConfig(learning_rate=1e-3, schedule=schedule, decay_steps=1000,
                             warmup_steps=100)
    warm, plain = (build_optimizer(c, "opt") for c in
                   (config, OptimizerConfig(learning_rate=1e-3, schedule=schedule,
                                            decay_steps=1000)))
    steps = [0, 49, 99, 100, 500, 1000]
    ramp = [0.01, 0.5, 1, 1, 1, 1]
    np.testing.assert_allclose(rates(warm, steps), np.multiply(rates(plain, steps), ramp),
                               rtol=1e-5)
    if schedule == "cosine":
        np.testing.assert_allclose(rates(plain, [0, 1000]), [1e-3, 1e-5], rtol=1e-5)
    scale_learning_rate(warm, 0.5)
    np.testing.assert_allclose(rates(warm, [49]), [rates(plain, [49])[0] / 4], rtol=1e-5)
