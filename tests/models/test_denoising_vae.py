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
