import json

import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.config import DenoiserConfig, NoiseConfig, OptimizerConfig
from aigc_cli.data.noise import add_noise
from aigc_cli.errors import CheckpointError
from aigc_cli.models.denoiser import build_denoiser, receptive_radius

from conftest import make_photo_folder, randomize_weights

OPTIMIZERS = {"denoiser": OptimizerConfig()}


def test_untrained_network_is_the_identity():
    model = build_denoiser(DenoiserConfig(depth=3, width=8), OPTIMIZERS, (16, 16, 1), seed=0)
    noisy = tf.random.uniform((2, 20, 20, 1))
    np.testing.assert_array_equal(model.denoise(noisy, tf.constant([0.1, 0.2])), noisy)


@pytest.mark.parametrize("half", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_network_keeps_the_image_shape(half, channels):
    model = build_denoiser(DenoiserConfig(depth=4, width=8, half_resolution=half), OPTIMIZERS,
                           (16, 16, channels), seed=0)
    noisy = tf.random.uniform((2, 24, 30, channels))
    assert model.denoise(noisy, tf.constant([0.1, 0.2])).shape == (2, 24, 30, channels)


@pytest.mark.parametrize("half", [False, True])
def test_receptive_radius_bounds_what_a_pixel_sees(half):
    config = DenoiserConfig(depth=4, width=8, half_resolution=half)
    model = build_denoiser(config, OPTIMIZERS, (16, 16, 1), seed=0)
    randomize_weights(model.denoiser)
    radius = receptive_radius(config)
    image = np.random.default_rng(0).uniform(0, 1, (1, 64, 64, 1)).astype(np.float32)
    changed = image.copy()
    changed[0, 32, 32 + radius + 1, 0] += 1.0  # just outside the radius of pixel (32, 32)
    sigma = tf.constant([0.1])
    before = model.denoise(tf.constant(image), sigma).numpy()
    after = model.denoise(tf.constant(changed), sigma).numpy()
    assert before[0, 32, 32, 0] == after[0, 32, 32, 0]
    assert not np.allclose(before, after)


def test_compiled_train_step_learns_to_denoise():
    model = build_denoiser(DenoiserConfig(depth=4, width=8), {"denoiser": OptimizerConfig(
        learning_rate=3e-3)}, (16, 16, 1), seed=0)
    model.build_optimizers()
    step = tf.function(model.train_step)
    clean = tf.random.uniform((8, 16, 16, 1), seed=1)
    sigma = tf.fill((8,), 0.1)
    noisy = clean + 0.1 * tf.random.normal(tf.shape(clean), seed=2)
    first = step((noisy, clean, sigma))
    for _ in range(40):
        last = step((noisy, clean, sigma))
    assert float(last["loss"]) < float(first["loss"]) and np.isfinite(float(last["psnr"]))
    assert step.experimental_get_tracing_count() == 1


def test_a_batch_told_its_level_per_pixel_trains_and_the_map_reaches_the_network():
    model = build_denoiser(DenoiserConfig(depth=3, width=8, batch_norm=False), OPTIMIZERS,
                           (16, 16, 1), seed=0)
    model.build_optimizers()
    clean = tf.random.uniform((4, 16, 16, 1), seed=1)
    noise = NoiseConfig(sigma=10.0, poisson_gain=0.02, level_map=True)
    noisy, clean, level = add_noise(clean, noise, tf.constant([1, 2], tf.int64))
    assert level.shape == (4, 16, 16, 1)
    assert np.isfinite(float(tf.function(model.train_step)((noisy, clean, level))["loss"]))
    randomize_weights(model.denoiser)
    one_sigma = tf.sqrt(tf.reduce_mean(tf.square(level), axis=[1, 2, 3]))  # same power
    assert not np.allclose(model.denoise(noisy, level), model.denoise(noisy, one_sigma))


def test_training_on_patches_with_synthesized_noise(tiny_denoiser_run):
    records = [json.loads(line) for line in (tiny_denoiser_run / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2]
    assert {"loss", "psnr"} <= set(records[0])
    grids = list((tiny_denoiser_run / "samples").glob("noisy_denoised_clean_*.png"))
    assert len(grids) == 1


@pytest.mark.slow
def test_init_from_starts_a_new_run_from_trained_weights(tiny_denoiser_run, tmp_path):
    from aigc_cli.config import build_config
    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.training.loop import build_session
    from aigc_cli.training.rundir import RunDir

    donor = load_trained_model(tiny_denoiser_run).model.denoiser
    data = json.loads((tiny_denoiser_run / "manifest.json").read_text())
    config = RunDir(tiny_denoiser_run).load_config()
    raw = {"model": {"type": "denoiser", "depth": 4, "width": 4, "half_resolution": True},
           "dataset": {"type": "folder", "path": config.dataset.path, "channels": 1,
                       "patch_size": 16, "noise": {"sigma": 25}},
           "training": {"batch_size": 4, "steps": 1, "init_from": str(tiny_denoiser_run)},
           "output": {"run_dir": str(tmp_path / "finetune")}}
    session = build_session(build_config(raw), RunDir(tmp_path / "finetune"), 0)
    for mine, theirs in zip(session.model.denoiser.get_weights(), donor.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert int(session.model.denoiser_optimizer.iterations.numpy()) == 0  # fresh optimizer
    manifest = json.loads((tmp_path / "finetune" / "manifest.json").read_text())
    assert manifest["initialized_from"].endswith("ckpt-2") and data["replicas"] == 1
    raw["model"]["width"] = 2
    raw["output"]["run_dir"] = str(tmp_path / "other")
    with pytest.raises(CheckpointError, match=r"^training.init_from .*does not fit this model"):
        build_session(build_config(raw), RunDir(tmp_path / "other"), 0)
    raw["training"]["init_from"] = "colour"  # a misspelt built-in: the valid names are listed
    with pytest.raises(CheckpointError,
                       match=r"colour is neither .* built-in model \(gray, color, gray-slim\)"):
        build_session(build_config(raw), RunDir(tmp_path / "third"), 0)


@pytest.mark.parametrize("half", [False, True])
def test_a_grown_denoiser_computes_what_the_smaller_one_did(half):
    small = build_denoiser(DenoiserConfig(depth=3, width=6, batch_norm=False, half_resolution=half),
                           OPTIMIZERS, (16, 16, 3), seed=0)
    randomize_weights(small.denoiser, gain=1.5)
    big = build_denoiser(DenoiserConfig(depth=8, width=10, batch_norm=False, half_resolution=half),
                         OPTIMIZERS, (16, 16, 3), seed=1)
    big.denoiser.set_weights(big.adapt_weights("denoiser", small.denoiser.get_weights()))
    noisy = 0.5 + 0.5 * tf.random.stateless_normal((2, 18, 22, 3), (3, 4))  # signed, as noisy
    sigma = tf.constant([0.1, 0.3])
    expected = small.denoise(noisy, sigma).numpy()
    assert np.abs(expected - noisy.numpy()).mean() > 0.05  # not the identity: a real check
    np.testing.assert_allclose(big.denoise(noisy, sigma).numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match="depth and width may only grow"):
        small.adapt_weights("denoiser", big.denoiser.get_weights())
    with_bn = build_denoiser(DenoiserConfig(depth=3, width=6, half_resolution=half),
                             OPTIMIZERS, (16, 16, 3), seed=0)
    with pytest.raises(ValueError, match="batch norm layers cannot grow"):
        big.adapt_weights("denoiser", with_bn.denoiser.get_weights())


@pytest.mark.parametrize("half", [False, True])
def test_slimming_keeps_the_channels_that_carry_the_function(half):
    """A grown network's added channels compute but feed nothing: slimming it back to the
    donor's width must find the donor's channels among them and compute its function."""
    def denoiser(width, seed):
        return build_denoiser(DenoiserConfig(depth=5, width=width, batch_norm=False,
                                             half_resolution=half), OPTIMIZERS, (16, 16, 3), seed)

    small, wide, slim = denoiser(6, 0), denoiser(16, 1), denoiser(6, 2)
    randomize_weights(small.denoiser, gain=1.5)
    wide.denoiser.set_weights(wide.adapt_weights("denoiser", small.denoiser.get_weights()))
    # Shuffle the wide network's hidden channels so that the donor's are not simply first.
    weights, order = wide.denoiser.get_weights(), None
    for layer in range(0, len(weights) - 2, 2):
        if order is not None:
            weights[layer] = weights[layer][:, :, order]
        order = np.random.default_rng(layer).permutation(weights[layer].shape[3])
        weights[layer], weights[layer + 1] = weights[layer][..., order], weights[layer + 1][order]
    weights[-2] = weights[-2][:, :, order]
    wide.denoiser.set_weights(weights)
    slim.denoiser.set_weights(slim.adapt_weights("denoiser", wide.denoiser.get_weights()))
    noisy = 0.5 + 0.5 * tf.random.stateless_normal((2, 18, 22, 3), (3, 4))
    sigma = tf.constant([0.1, 0.3])
    expected = small.denoise(noisy, sigma).numpy()
    assert np.abs(expected - noisy.numpy()).mean() > 0.05  # not the identity: a real check
    np.testing.assert_allclose(wide.denoise(noisy, sigma).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(slim.denoise(noisy, sigma).numpy(), expected, atol=1e-5)
    shallow = build_denoiser(DenoiserConfig(depth=4, width=6, batch_norm=False,
                                            half_resolution=half), OPTIMIZERS, (16, 16, 3), 0)
    with pytest.raises(ValueError, match="may only grow"):  # fewer layers: neither way
        shallow.adapt_weights("denoiser", wide.denoiser.get_weights())
    other_kernel = build_denoiser(DenoiserConfig(depth=5, width=16, kernel_size=5,
                                                 batch_norm=False, half_resolution=half),
                                  OPTIMIZERS, (16, 16, 3), 0)
    with pytest.raises(ValueError, match="cannot slim .* kernel size"):
        slim.adapt_weights("denoiser", other_kernel.denoiser.get_weights())


def test_init_from_a_smaller_denoiser_grows_it_into_the_same_function(tmp_path):
    from aigc_cli.config import build_config
    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.training.loop import build_session, train
    from aigc_cli.training.rundir import RunDir

    def raw_config(name, **model):
        return {"model": {"type": "denoiser", "batch_norm": False, "half_resolution": True,
                          **model},
                "dataset": {"type": "folder", "path": str(make_photo_folder(tmp_path / "photos")),
                            "channels": 1, "patch_size": 16, "noise": {"sigma": 25}},
                "optimizer": {"denoiser": {"learning_rate": 0.05}},  # far from the identity
                "training": {"batch_size": 4, "steps": 3, "log_every": 3, "sample_every": 3},
                "output": {"run_dir": str(tmp_path / name)}}

    small = train(build_config(raw_config("small", depth=3, width=4)), quiet=True).run_dir
    donor = load_trained_model(small).model
    raw = raw_config("grown", depth=6, width=7)
    raw["training"]["init_from"] = str(small)
    grown = build_session(build_config(raw), RunDir(tmp_path / "grown"), 0).model
    assert [w.shape[-1] for w in grown.denoiser.weights[::2]] == [7] * 5 + [4]
    noisy = 0.5 + 0.5 * tf.random.stateless_normal((2, 24, 20, 1), (1, 2))
    sigma = tf.constant([0.05, 0.2])
    expected = donor.denoise(noisy, sigma).numpy()
    assert np.abs(expected - noisy.numpy()).mean() > 1e-3
    np.testing.assert_allclose(grown.denoise(noisy, sigma).numpy(), expected, atol=1e-5)
    manifest = json.loads((tmp_path / "grown" / "manifest.json").read_text())
    assert manifest["initialized_from"].endswith("ckpt-3")


@pytest.mark.slow
def test_init_from_a_checkpoint_or_another_family(tiny_denoiser_run, tiny_config, tmp_path):
    from aigc_cli.config import build_config
    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.training.loop import build_session, train
    from aigc_cli.training.rundir import RunDir

    config = RunDir(tiny_denoiser_run).load_config()
    raw = {"model": {"type": "denoiser", "depth": 4, "width": 4, "half_resolution": True},
           "dataset": {"type": "folder", "path": config.dataset.path, "channels": 1,
                       "patch_size": 16, "noise": {"sigma": 25}},
           "training": {"batch_size": 4, "steps": 1,
                        "init_from": str(tiny_denoiser_run / "checkpoints" / "ckpt-2")},
           "output": {"run_dir": str(tmp_path / "from_prefix")}}
    session = build_session(build_config(raw), RunDir(tmp_path / "from_prefix"), 0)
    donor = load_trained_model(tiny_denoiser_run).model.denoiser
    for mine, theirs in zip(session.model.denoiser.get_weights(), donor.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    gan_run = train(tiny_config(steps=1), quiet=True).run_dir
    raw["training"]["init_from"] = str(gan_run)
    raw["output"]["run_dir"] = str(tmp_path / "from_gan")
    with pytest.raises(CheckpointError, match=r"holds no 'denoiser' network \(it has generator"):
        build_session(build_config(raw), RunDir(tmp_path / "from_gan"), 0)


def test_denoiser_trains_in_mixed_bfloat16_with_a_float32_output():
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_denoiser(DenoiserConfig(depth=3, width=8, half_resolution=True),
                               OPTIMIZERS, (16, 16, 1), seed=0)
        model.build_optimizers()
        noisy = tf.random.uniform((4, 16, 16, 1))
        losses = tf.function(model.train_step)((noisy, noisy, tf.fill((4,), 0.1)))
        assert np.isfinite(float(losses["loss"]))
        assert model.denoise(noisy, tf.fill((4,), 0.1)).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_synthesized_noise_is_fixed_or_drawn_per_image_and_not_clipped():
    from aigc_cli.config import NoiseConfig
    from aigc_cli.data.noise import add_noise

    clean = tf.fill((64, 16, 16, 3), 0.98)
    seed = tf.constant([3, 4], tf.int64)
    noisy, same, sigma = add_noise(clean, NoiseConfig(sigma=25.0), seed)
    assert same is clean and np.all(sigma.numpy() == np.float32(25 / 255))
    residual = (noisy - clean).numpy()
    assert residual.std() == pytest.approx(25 / 255, rel=0.02)
    assert noisy.numpy().max() > 1.1  # the published convention: no clipping
    noisy_again, _, _ = add_noise(clean, NoiseConfig(sigma=25.0), seed)
    np.testing.assert_array_equal(noisy_again, noisy)  # a stateless seed: reproducible
    _, _, blind = add_noise(clean, NoiseConfig(sigma=(0.0, 55.0)), seed)
    levels = blind.numpy() * 255
    assert levels.min() >= 0 and levels.max() <= 55 and levels.std() > 10  # one level per image
    per_image = (add_noise(clean, NoiseConfig(sigma=(0.0, 55.0)), seed)[0] - clean).numpy()
    np.testing.assert_allclose(per_image.std(axis=(1, 2, 3)), blind.numpy(), rtol=0.15, atol=0.002)


def test_a_colour_denoiser_trains_on_colour_patches(tmp_path):
    from aigc_cli.config import build_config
    from aigc_cli.inference.denoising import TiledDenoiser
    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.training.loop import train

    from conftest import TINY_DENOISER

    data = make_photo_folder(tmp_path / "clean", channels=3)
    config = build_config({
        "model": dict(TINY_DENOISER),
        "dataset": {"type": "folder", "path": str(data), "channels": 3, "patch_size": 16,
                    "random_rotations": True, "noise": {"sigma": 25}},
        "training": {"batch_size": 4, "steps": 2, "log_every": 1, "sample_every": 2,
                     "checkpoint_every": 2, "preview_images": 4},
        "output": {"run_dir": str(tmp_path / "colour_run")}})
    run_dir = train(config, quiet=True).run_dir
    model = load_trained_model(run_dir).model
    assert model.denoiser.input_shape[0][-1] == 3
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2] and all(np.isfinite(r["loss"]) for r in records)
    image = np.random.default_rng(0).uniform(0, 1, (30, 26, 3)).astype(np.float32)
    assert TiledDenoiser(model)(image, 25 / 255).shape == image.shape
    assert np.abs(model.denoiser.get_weights()[-2]).sum() > 0  # the zero output layer learnt


def test_init_from_a_builtin_model_copies_its_weights(tmp_path):
    from aigc_cli.config import build_config
    from aigc_cli.models.assets import builtin_denoiser_path, load_model_asset
    from aigc_cli.training.loop import build_session
    from aigc_cli.training.rundir import RunDir

    data = make_photo_folder(tmp_path / "my_photos")
    with np.load(builtin_denoiser_path("gray", "test"), allow_pickle=False) as stored:
        shipped_config = json.loads(str(stored["meta"]))["model"]  # the built-in's architecture
    raw = {"model": shipped_config,
           "dataset": {"type": "folder", "path": str(data), "channels": 1, "patch_size": 16,
                       "noise": {"sigma": [0, 55]}},
           "training": {"batch_size": 4, "steps": 1, "init_from": "gray"},
           "output": {"run_dir": str(tmp_path / "finetune")}}
    session = build_session(build_config(raw), RunDir(tmp_path / "finetune"), 0)
    shipped = load_model_asset(builtin_denoiser_path("gray", "training.init_from")).denoiser
    weights = session.model.denoiser.get_weights()
    assert len(weights) == len(shipped.get_weights())
    for mine, theirs in zip(weights, shipped.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert np.abs(weights[-1]).sum() + np.abs(weights[-2]).sum() > 0  # not a fresh zero output
