import json

import numpy as np
import pytest

from aigc_cli.cli import main
from aigc_cli.config import build_config
from aigc_cli.inference.denoising import TiledDenoiser
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.training.loop import train

from conftest import make_photo_folder


@pytest.mark.slow
def test_denoising_vae_trains_tiles_exactly_and_denoises_files(tmp_path, runner):
    data = make_photo_folder(tmp_path / "clean")
    config = build_config({
        "model": {"type": "denoising_vae", "widths": [4, 8], "latent_channels": 2},
        "dataset": {"type": "folder", "path": str(data), "channels": 1, "patch_size": 16,
                    "noise": {"sigma": [0, 55]}},
        "training": {"batch_size": 4, "steps": 2, "log_every": 1, "sample_every": 2,
                     "checkpoint_every": 2, "preview_images": 4},
        "output": {"run_dir": str(tmp_path / "run")},
    })
    run = train(config, quiet=True).run_dir
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert {"loss", "kl_loss", "psnr"} <= set(records[-1])
    model = load_trained_model(run).model
    image = np.random.default_rng(0).uniform(0, 1, (75, 61, 1)).astype(np.float32)
    whole = TiledDenoiser(model, tile=4096)(image, 0.1)
    np.testing.assert_allclose(TiledDenoiser(model, tile=16)(image, 0.1), whole, atol=1e-5)
    assert whole.shape == image.shape
    result = runner.invoke(main, ["denoise", str(data), "-o", str(tmp_path / "out"),
                                  "--model", str(run), "--sigma", "20", "-q"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 6


def test_denoising_vae_free_bits_charge_the_floor_of_each_latent_channel():
    import tensorflow as tf

    from aigc_cli.config import DenoisingVAEConfig, OptimizerConfig
    from aigc_cli.models.denoising_vae import build_denoising_vae

    clean = tf.random.stateless_uniform((2, 16, 16, 1), (3, 4))
    sigma = tf.fill((2,), 0.1)
    batch = (clean + sigma[:, None, None, None] * tf.random.stateless_normal(
        clean.shape, (5, 6)), clean, sigma)
    losses, weights = {}, None
    for free_bits in (0.0, 3.0):
        config = DenoisingVAEConfig(widths=(4, 8), latent_channels=2, free_bits=free_bits)
        model = build_denoising_vae(config, {"denoising_vae": OptimizerConfig()},
                                    (16, 16, 1), seed=0)
        networks = (model.encoder, model.decoder)
        if weights:  # the same start, so only the objective differs
            for network, values in zip(networks, weights):
                network.set_weights(values)
        weights = [network.get_weights() for network in networks]
        losses[free_bits] = {k: float(v) for k, v in model.train_step(batch).items()}
    plain, floored = losses[0.0], losses[3.0]
    assert floored["kl_loss"] == pytest.approx(plain["kl_loss"], rel=1e-5)  # same start
    # 2 channels x 4 x 4 positions x 3 nats, all under the floor at initialisation: the
    # objective charges the floor instead of the KL the untrained encoder holds
    assert plain["kl_loss"] < 2 * 16 * 3.0
    assert floored["loss"] - plain["loss"] == pytest.approx(2 * 16 * 3.0 - plain["kl_loss"],
                                                            rel=1e-4)
