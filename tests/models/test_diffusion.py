"""The diffusion family: EDM's formulas against direct computations, the samplers on
data with a closed-form denoiser, guidance, determinism, resume and export."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.cli import main
from aigc_cli.config import DiffusionConfig, OptimizerConfig, build_config
from aigc_cli.models import edm
from aigc_cli.models.diffusion import SamplingSettings, build_diffusion
from aigc_cli.models.unet import build_unet, level_sizes

from conftest import randomize_weights, tiny_config_dict

TINY_DIFFUSION = {"type": "diffusion", "widths": [8, 16], "blocks_per_level": 1,
                  "attention_resolutions": [14], "attention_heads": 2, "sample_steps": 3}


def _model(image_shape=(28, 28, 1), **config):
    model_config = DiffusionConfig(**{**TINY_DIFFUSION, "type": "diffusion",
                                      "widths": (8, 16), "attention_resolutions": (14,),
                                      **config})
    model = build_diffusion(model_config, {"denoiser": OptimizerConfig()}, image_shape, 0)
    randomize_weights(model.denoiser, gain=0.5)
    # Unit scales in the normalisations, or they would silence every block.
    for layer in model.denoiser._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.GroupNormalization):
            layer.gamma.assign(tf.ones_like(layer.gamma))
    if model.ema_denoiser is not None:
        model.ema_denoiser.set_weights(model.denoiser.get_weights())
    return model


def test_preconditioning_matches_edm_table_1():
    sigma, sigma_data = tf.constant([0.01, 0.5, 3.0, 80.0]), 0.5
    c_skip, c_out, c_in, c_noise = (t.numpy() for t in edm.preconditioning(sigma, sigma_data))
    for i, s in enumerate([0.01, 0.5, 3.0, 80.0]):
        assert c_skip[i] == pytest.approx(0.25 / (s * s + 0.25), rel=1e-5)
        assert c_out[i] == pytest.approx(s * 0.5 / math.sqrt(s * s + 0.25), rel=1e-5)
        assert c_in[i] == pytest.approx(1 / math.sqrt(s * s + 0.25), rel=1e-5)
        assert c_noise[i] == pytest.approx(math.log(s) / 4, rel=1e-5)
    # The loss weight makes F's effective target unit-weighted: lambda * c_out^2 = 1.
    np.testing.assert_allclose(edm.loss_weight(sigma, sigma_data).numpy() * c_out ** 2, 1.0,
                               rtol=1e-5)


def test_the_denoiser_returns_its_input_as_sigma_goes_to_zero():
    model = _model()
    x = tf.random.stateless_uniform((2, 28, 28, 1), (1, 2), -1.0, 1.0)
    for sigma, tolerance in ((1e-3, 1e-2), (1e-5, 1e-4)):
        np.testing.assert_allclose(model.denoised(x, sigma).numpy(), x.numpy(), atol=tolerance)
    assert np.abs(model.denoised(x, 2.0).numpy() - x.numpy()).max() > 0.1  # the net acts


def test_the_schedule_runs_from_sigma_max_to_zero():
    sigmas = edm.sigma_schedule(5, 0.002, 80.0, 7.0)
    assert sigmas[0] == pytest.approx(80.0) and sigmas[-2] == pytest.approx(0.002)
    assert sigmas[-1] == 0.0 and np.all(np.diff(sigmas) < 0) and len(sigmas) == 6
    middle = (80.0 ** (1 / 7) + 0.5 * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    assert sigmas[2] == pytest.approx(middle)
    assert [edm.evaluations(s, 10) for s in edm.SAMPLERS] == [19, 10, 10]


MU, S = 0.3, 0.4


def _exact_denoiser(x, sigma):
    """Data N(MU, S^2) has the exact denoiser D(x; sigma) = MU + S^2 / (S^2 + sigma^2) (x - MU)."""
    return MU + S * S / (S * S + sigma * sigma) * (x - MU)


def _gain_error(sampler: str, steps: int) -> float:
    """The sampler's relative error in the ODE's exact gain S / sqrt(S^2 + sigma_max^2),
    which maps the starting noise's spread onto the data's."""
    ends = edm.sample(_exact_denoiser, tf.constant([[0.0], [80.0]]),
                      edm.sigma_schedule(steps, 0.002, 80.0, 7.0), sampler).numpy()
    return abs((ends[1, 0] - ends[0, 0]) / 80.0 / (S / math.sqrt(S * S + 80.0 ** 2)) - 1.0)


@pytest.mark.parametrize("sampler,steps", [("heun", 100), ("euler", 400), ("dpmpp_2m", 100)])
def test_samplers_reach_gaussian_data(sampler, steps):
    start = 80.0 * tf.random.stateless_normal((20000, 1), (3, 4))
    samples = edm.sample(_exact_denoiser, start, edm.sigma_schedule(steps, 0.002, 80.0, 7.0),
                         sampler).numpy()
    # the exact flow maps x_T to MU + S / sqrt(S^2 + 80^2) (x_T - MU): each sample, not
    # only the moments, is checked against where the ODE takes its own start
    gain = S / math.sqrt(S * S + 80.0 ** 2)
    exact = MU + gain * (start.numpy() - MU)
    assert np.abs(samples - exact).max() < 0.01 * np.ptp(exact)  # 1% of the spread
    assert samples.mean() == pytest.approx(MU, abs=0.01)
    assert samples.std() == pytest.approx(S * start.numpy().std() / 80.0, rel=0.01)


@pytest.mark.parametrize("sampler,order", [("heun", 2), ("dpmpp_2m", 2), ("euler", 1)])
def test_samplers_converge_at_their_order(sampler, order):
    coarse, fine = _gain_error(sampler, 30), _gain_error(sampler, 100)
    assert fine < coarse and coarse / fine > 0.7 * (100 / 30) ** order
    assert coarse / fine < 1.5 * (100 / 30) ** order


def test_guidance_zero_is_the_unconditional_model_and_one_the_conditional():
    model = _model(num_classes=3)
    x = tf.random.stateless_normal((4, 28, 28, 1), (5, 6))
    labels = tf.constant([0, 1, 2, 1])
    unconditional = model.denoised(x, 1.5, None).numpy()
    conditional = model.denoised(x, 1.5, labels).numpy()
    assert np.abs(unconditional - conditional).max() > 1e-3  # labels matter
    np.testing.assert_allclose(model.guided(x, 1.5, labels, 0.0), unconditional, atol=1e-6)
    np.testing.assert_allclose(model.guided(x, 1.5, labels, 1.0), conditional, atol=1e-6)
    np.testing.assert_allclose(model.guided(x, 1.5, labels, 2.5),
                               unconditional + 2.5 * (conditional - unconditional), atol=1e-4)
    # the batched path (both halves in one call) near each end meets its shortcut: its
    # halves are in the right order and its "no label" class is the unconditional model
    np.testing.assert_allclose(model.guided(x, 1.5, labels, 1e-5), unconditional, atol=1e-4)
    np.testing.assert_allclose(model.guided(x, 1.5, labels, 1 - 1e-5), conditional, atol=1e-4)


def test_network_evaluations_per_image_count_guidance_only_where_it_doubles_the_batch():
    settings = lambda guidance: SamplingSettings("dpmpp_2m", 10, guidance)
    assert settings(0.0).evaluations(conditional=True) == 10  # the unconditional model alone
    assert settings(1.0).evaluations(conditional=True) == 10
    assert settings(2.0).evaluations(conditional=True) == 20
    assert settings(2.0).evaluations(conditional=False) == 10
    assert SamplingSettings("heun", 10, 2.0).evaluations(conditional=True) == 38


def test_the_weight_average_forgets_fast_early_and_at_ema_decay_later():
    model = _model(ema_decay=0.999)
    live = [tf.ones_like(v) * 2.0 for v in model.denoiser.trainable_variables]
    for step, decay in ((0, 0.1), (20, 21 / 30), (100000, 0.999)):
        for variable, value in zip(model.denoiser.trainable_variables, live):
            variable.assign(value)
        for variable in model.ema_denoiser.trainable_variables:
            variable.assign(tf.zeros_like(variable))
        model.denoiser_optimizer.iterations.assign(step)
        model.after_step()
        averaged = model.ema_denoiser.trainable_variables[0].numpy()
        np.testing.assert_allclose(averaged, (1 - decay) * 2.0, rtol=1e-4)  # float32


def test_group_norm_keeps_at_least_four_channels_per_group_as_edm():
    from aigc_cli.models.unet import group_count
    assert [group_count(c) for c in (4, 8, 12, 32, 64, 96, 128, 256, 6, 2)] == \
        [1, 2, 3, 8, 16, 24, 32, 32, 1, 1]


@pytest.mark.parametrize("size", [28, 32, 13])
def test_the_unet_keeps_any_size_including_odd_ones(size):
    config = DiffusionConfig(widths=(8, 8, 16), blocks_per_level=1, attention_resolutions=(7,))
    network = build_unet(config, 3, size)
    out = network([tf.zeros((2, size, size + 5, 3)), tf.zeros((2,))])
    assert out.shape == (2, size, size + 5, 3) and out.dtype == tf.float32
    assert level_sizes(28, 4) == [28, 14, 7, 4]


def test_generate_is_deterministic_per_seed_and_clipped(tmp_path, idx_folder, runner):
    from aigc_cli.training.loop import train

    config = tiny_config_dict(idx_folder, tmp_path / "run", TINY_DIFFUSION, steps=2)
    run = train(build_config(config), quiet=True).run_dir
    outputs = []
    for name in ("a", "b"):
        result = runner.invoke(main, ["sample", str(run), "-n", "3", "--seed", "4", "--steps",
                                      "2", "--out", str(tmp_path / name), "-q"])
        assert result.exit_code == 0, result.output
        outputs.append([p.read_bytes() for p in sorted((tmp_path / name).iterdir())])
    assert outputs[0] == outputs[1] and len(set(outputs[0])) == 3
    wrong = runner.invoke(main, ["sample", str(run), "--guidance", "2", "-n", "1"])
    assert wrong.exit_code == 2 and "not class-conditional" in wrong.output


def test_resume_is_exact_including_the_weight_average(tmp_path, idx_folder):
    from aigc_cli.training.loop import train

    def weights(name, *step_counts):
        for steps in step_counts:
            config = tiny_config_dict(idx_folder, tmp_path / name,
                                      {**TINY_DIFFUSION, "num_classes": 10}, steps=steps)
            train(build_config(config), quiet=True)
        reader = tf.train.load_checkpoint(str(tmp_path / name / "checkpoints" / "ckpt-4"))
        return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
                if key.startswith(("denoiser/", "ema_denoiser/"))}

    straight, resumed = weights("straight", 4), weights("resumed", 2, 4)
    assert any(key.startswith("ema_denoiser/") for key in straight) and len(straight) > 10
    assert straight.keys() == resumed.keys()
    assert all(np.array_equal(straight[key], resumed[key]) for key in straight)


@pytest.mark.slow
def test_the_saved_model_generates_what_the_run_does(tmp_path, idx_folder, runner):
    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.training.loop import train

    config = tiny_config_dict(idx_folder, tmp_path / "run",
                              {**TINY_DIFFUSION, "num_classes": 10}, steps=2)
    run = train(build_config(config), quiet=True).run_dir
    out = tmp_path / "export"
    result = runner.invoke(main, ["export", str(run), "--out", str(out), "--steps", "3",
                                  "--sampler", "euler"])
    assert result.exit_code == 0, result.output
    serving = tf.saved_model.load(str(out)).signatures["serving_default"]
    latents = tf.random.stateless_normal((2, 28 * 28), (7, 8))
    labels = tf.constant([3, 9])
    chosen = {"steps": 3, "sampler": "euler"}
    expected = load_trained_model(run, sampling=chosen).model.generate(latents, labels)
    exported = serving(latents=latents, labels=labels)["images"]
    np.testing.assert_allclose(exported, expected, atol=1e-5)
    # the flags reached the signature: the config's own sampler draws other images
    default = load_trained_model(run).model.generate(latents, labels)
    assert np.abs(exported - default).max() > 1e-3


def test_denoise_maps_photo_units_onto_the_model_and_back():
    """An untrained model's F is 0 (zero-initialised output), so D(x; s) = c_skip x: the
    photo's [0, 1] units must go to [-1, 1] with twice the sigma, and back."""
    model = build_diffusion(DiffusionConfig(widths=(8, 16), blocks_per_level=1),
                            {"denoiser": OptimizerConfig()}, (28, 28, 1), 0)
    noisy = tf.random.stateless_uniform((1, 20, 24, 1), (2, 3))
    sigma = 25.0 / 255.0
    c_skip = 0.25 / ((2 * sigma) ** 2 + 0.25)
    expected = (c_skip * (2 * noisy.numpy() - 1) + 1) / 2
    np.testing.assert_allclose(model.denoise(noisy, tf.constant([sigma])), expected, atol=1e-6)


def test_a_diffusion_run_denoises_a_folder_and_is_evaluated_as_a_denoiser(tmp_path, runner):
    from aigc_cli.training.loop import train

    from conftest import make_photo_folder

    photos = make_photo_folder(tmp_path / "photos", count=4, size=40)
    run = train(build_config({
        "model": {**TINY_DIFFUSION, "attention_resolutions": []},
        "dataset": {"type": "folder", "path": str(photos), "image_size": 32, "channels": 1},
        "training": {"batch_size": 2, "steps": 2, "log_every": 1, "sample_every": 2,
                     "checkpoint_every": 2, "preview_images": 4},
        "output": {"run_dir": str(tmp_path / "run")}}), quiet=True).run_dir
    result = runner.invoke(main, ["denoise", str(photos), "--model", str(run), "-o",
                                  str(tmp_path / "out"), "--sigma", "25", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in photos.iterdir())
    report = runner.invoke(main, ["eval", str(run), "--clean", str(photos), "--sigma", "25",
                                  "--json", "-q"])
    assert report.exit_code == 0, report.output
    measured = json.loads(report.output)
    assert measured["images"] == 4 and measured["psnr"] > measured["noisy_psnr"]


def test_a_private_diffusion_run_clips_per_example(tmp_path, idx_folder):
    from aigc_cli.training.loop import train

    config = tiny_config_dict(idx_folder, tmp_path / "run",
                              {**TINY_DIFFUSION, "attention_resolutions": [], "num_classes": 10},
                              steps=2, privacy={"clip_norm": 1.0, "noise_multiplier": 1.0})
    result = train(build_config(config), quiet=True)
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    assert result.step == 2 and "privacy/epsilon" in records[-1]
    assert all(np.isfinite(r["loss"]) for r in records if "loss" in r)


def test_attention_caps_the_denoising_tile_so_its_memory_stays_bounded():
    from aigc_cli.inference.denoising import TiledDenoiser
    from aigc_cli.models.diffusion import MAX_ATTENTION_TOKENS

    model = _model()  # attention at 14 px: the second level, stride 2
    runner = TiledDenoiser(model, tile=512)
    region = runner.tile + 2 * runner.margin
    assert runner.tile < 512 and (region / 2) ** 2 <= 1.1 * MAX_ATTENTION_TOKENS
    assert TiledDenoiser(_model(attention_resolutions=()), tile=512).tile == 512
