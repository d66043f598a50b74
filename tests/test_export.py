import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.cli import main
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.training.loop import train

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


def _export(runner, run, tmp_path, fmt="saved_model"):
    out = tmp_path / f"export_{fmt}"
    result = runner.invoke(main, ["export", str(run), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_gan_saved_model_serves_latents_to_images(tiny_config, runner, tmp_path):
    run = train(tiny_config(steps=2), quiet=True).run_dir
    out = _export(runner, run, tmp_path)
    serving = tf.saved_model.load(str(out)).signatures["serving_default"]
    latents = tf.random.normal((3, 8), seed=1)
    expected = load_trained_model(run).model.generate(latents)
    np.testing.assert_allclose(serving(latents=latents)["images"], expected, atol=1e-5)
    again = runner.invoke(main, ["export", str(run), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert runner.invoke(main, ["export", str(run), "--out", str(out),
                                "--overwrite"]).exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export")]  # no staging left


def test_denoiser_saved_model_serves_any_size(tiny_denoiser_run, runner, tmp_path):
    out = _export(runner, tiny_denoiser_run, tmp_path)
    loaded = tf.saved_model.load(str(out))
    model = load_trained_model(tiny_denoiser_run).model
    noisy = tf.random.uniform((2, 20, 24, 1), seed=2)
    sigma = tf.constant([0.1, 0.2])
    served = loaded.signatures["serving_default"](noisy=noisy, sigma=sigma)["denoised"]
    np.testing.assert_allclose(served, model.denoise(noisy, sigma), atol=1e-5)
    odd = loaded.signatures["denoise"](noisy=tf.random.uniform((1, 21, 17, 1)),
                                       sigma=tf.constant([0.1]))["denoised"]
    assert odd.shape == (1, 21, 17, 1)  # half resolution: padded and cropped back


def test_vae_saved_model_reconstructs_and_keras_files_reload_in_safe_mode(
        tiny_vae_run, runner, tmp_path):
    import keras

    model = load_trained_model(tiny_vae_run).model
    images = tf.random.uniform((2, 28, 28, 1), -1, 1, seed=3)
    loaded = tf.saved_model.load(str(_export(runner, tiny_vae_run, tmp_path)))
    served = loaded.signatures["serving_default"](images=images)["reconstructions"]
    np.testing.assert_allclose(served, model.reconstruct(images), atol=1e-5)
    assert set(loaded.signatures) == {"serving_default", "reconstruct", "generate"}
    out = _export(runner, tiny_vae_run, tmp_path, "keras")
    decoder = keras.saving.load_model(out / "decoder.keras", safe_mode=True)
    latents = tf.random.normal((2, model.latent_dim), seed=4)
    np.testing.assert_allclose(decoder(latents), model.decoder(latents), atol=1e-5)


def test_bench_reports_both_loops_and_sampling(idx_folder, tmp_path, runner):
    import json

    import yaml
    from conftest import tiny_config_dict

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(idx_folder, tmp_path / "unused")))
    result = runner.invoke(main, ["bench", str(config), "--steps", "3", "--warmup", "1",
                                  "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["train"]["images_per_sec"] > 0 and report["reference_loop"]["images_per_sec"] > 0
    train = report["train"]
    assert train["images_per_sec_amortized"] <= train["images_per_sec"]
    assert train["grid_seconds"] > 0 and train["checkpoint_seconds"] > 0
    assert report["tool_over_reference"] == pytest.approx(
        train["images_per_sec_amortized"] / report["reference_loop"]["images_per_sec"],
        rel=1e-3)
    assert report["reference_loop"]["step_ms_p90"] >= report["reference_loop"]["step_ms_median"]
    assert report["sampling"]["images_per_sec"] > 0 and report["peak_memory_mb"] > 100
    assert not (tmp_path / "unused").exists()  # the timed run lives in a temporary folder
    assert "10/10" in result.stderr  # the tool loop's bar: 1 warm-up + 3 rounds x 3 steps


def test_bench_windows_leave_the_end_of_run_grid_and_checkpoint_out(idx_folder, tmp_path,
                                                                   monkeypatch):
    from conftest import tiny_config_dict

    from aigc_cli.config import build_config
    from aigc_cli.training.bench import bench
    from aigc_cli.training.checkpoint import Checkpointer
    from aigc_cli.training.reporting import Reporter

    events = []
    for cls, name in ((Reporter, "grids"), (Checkpointer, "save")):
        original = getattr(cls, name)
        monkeypatch.setattr(cls, name, lambda self, *a, _o=original, _n=name, **k: (
            events.append(_n), _o(self, *a, **k))[1])
    # intervals far beyond the run: every grid or checkpoint is the end of a run_steps call
    config = build_config(tiny_config_dict(idx_folder, tmp_path / "unused", sample_every=1000,
                                           checkpoint_every=1000))
    bench(config, steps=2, warmup=1, rounds=3)
    # the warm-up window's closing pair, then the pair timed once to be charged; none of
    # the three timed windows writes either
    assert events.count("grids") == 2 and events.count("save") == 2


def test_bench_reports_denoising_megapixels(tiny_denoiser_run, runner):
    import json

    # a config that evaluates while it trains: the timed windows leave evaluation out
    clean = tiny_denoiser_run.parent / "clean"
    result = runner.invoke(main, ["bench", str(tiny_denoiser_run), "--steps", "2", "--warmup",
                                  "1", "--json", "--set", "training.eval_every=1",
                                  "--set", f"training.eval_images={clean}"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["denoising"]["megapixels_per_sec"] > 0
