import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.config import build_config
from aigc_cli.data.pipeline import training_dataset
from aigc_cli.data.sources import load_images
from aigc_cli.errors import ConfigError
from aigc_cli.training.checkpoint import resolve_checkpoint
from aigc_cli.training.loop import build_session, train
from aigc_cli.training.rundir import RunDir

from conftest import tiny_config_dict


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_two_steps_write_the_whole_run_dir(tiny_config):
    config = tiny_config(steps=2)
    result = train(config, quiet=True)
    run = RunDir(result.run_dir)
    assert (result.step, result.stop_reason) == (2, "completed")
    assert result.checkpoint.endswith("ckpt-2")
    assert (run.samples / "generated_step_00000002.png").is_file()
    assert run.load_config() == config
    assert [r["step"] for r in read_metrics(run.root)] == [1, 2]
    assert {"d_loss", "g_loss", "images_per_sec", "lr/generator"} <= set(read_metrics(run.root)[0])
    assert list(run.logs.glob("events.out.tfevents.*"))
    assert json.loads(run.manifest.read_text())["tensorflow"] == tf.__version__


@pytest.mark.slow
def test_resume_continues_the_step_count_and_optimizer_state(tiny_config):
    train(tiny_config(steps=2), quiet=True)
    result = train(tiny_config(steps=4), quiet=True)
    assert (result.start_step, result.step) == (2, 4)
    assert [r["step"] for r in read_metrics(result.run_dir)] == [1, 2, 3, 4]
    # Rebuilt with the config and restored: the optimizers count all 4 updates.
    session = build_session(tiny_config(steps=4), RunDir(result.run_dir), 4)
    assert session.step == 4
    assert int(session.model.g_optimizer.iterations.numpy()) == 4
    again = train(tiny_config(steps=4), quiet=True)
    assert again.stop_reason == "already_complete" and again.step == 4


@pytest.mark.slow
def test_epochs_set_the_steps_and_a_resumed_run_keeps_its_schedule(idx_folder, tmp_path,
                                                                    aigc_log):
    data = tiny_config_dict(idx_folder, tmp_path / "run", steps=2, epochs=0.5, sample_every=100)
    data["optimizer"] = {"generator": {"schedule": "cosine"}}
    result = train(build_config(data), quiet=True)
    assert result.step == 4  # ceil(0.5 x 64 images / batch 8); training.steps 2 is ignored
    run = RunDir(result.run_dir)
    recorded = run.load_config()
    assert (recorded.training.steps, recorded.training.epochs) == (4, 0.5)
    assert recorded.optimizer["generator"].decay_steps == 4  # the cosine spans the run
    assert not aigc_log.records
    # Resumed from its own config.yaml for one epoch: 8 steps, the decay still ends at 4.
    longer = recorded.replace(training=dataclasses.replace(recorded.training, epochs=1.0))
    again = train(longer, quiet=True)
    assert (again.start_step, again.step) == (4, 8)
    assert run.load_config().optimizer["generator"].decay_steps == 4
    assert "the cosine decay ends at step 4; steps 5-8" in aigc_log.text
    assert "optimizer.generator.decay_steps=8" in aigc_log.text


@pytest.mark.slow
def test_max_seconds_stops_with_a_checkpoint(tiny_config):
    result = train(tiny_config(steps=1000, max_seconds=0.01), quiet=True)
    assert result.stop_reason == "max_seconds"
    assert 1 <= result.step < 1000
    assert result.checkpoint.endswith(f"ckpt-{result.step}")
    assert (RunDir(result.run_dir).samples / f"generated_step_{result.step:08d}.png").is_file()


def test_step_is_traced_once_even_across_partial_batches(idx_folder, tmp_path):
    # 64 images in batches of 24: without drop_remainder every third batch would be short.
    config = build_config(tiny_config_dict(idx_folder, tmp_path / "r", batch_size=24))
    session = build_session(config, RunDir(tmp_path / "r"), 0)
    for _ in range(6):
        session.train_function(session.iterator, tf.constant(1))
    assert session.train_function.experimental_get_tracing_count() == 1


@pytest.mark.slow
def test_same_seed_same_weights(idx_folder, tmp_path):
    def final_weights(name, seed):
        config = build_config(tiny_config_dict(idx_folder, tmp_path / name, steps=3, seed=seed))
        train(config, quiet=True)
        reader = tf.train.load_checkpoint(str(tmp_path / name / "checkpoints" / "ckpt-3"))
        return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
                if key.startswith("generator/")}

    first, second, other = final_weights("a", 0), final_weights("b", 0), final_weights("c", 1)
    assert first.keys() == second.keys() and len(first) > 4
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not all(np.array_equal(first[k], other[k]) for k in first)


def test_training_dataset_batches_are_fixed_size_and_scaled(idx_folder):
    config = build_config(tiny_config_dict(idx_folder, "unused")).dataset
    batches = list(training_dataset(load_images(config), config, 24, seed=0).take(5))
    assert {tuple(b.shape) for b in batches} == {(24, 28, 28, 1)}
    assert min(float(tf.reduce_min(b)) for b in batches) >= -1.0
    assert max(float(tf.reduce_max(b)) for b in batches) <= 1.0


def test_resolve_checkpoint_accepts_run_dir_and_prefix(tiny_config):
    result = train(tiny_config(steps=2), quiet=True)
    run, prefix = resolve_checkpoint(result.run_dir)
    assert run.root == result.run_dir and prefix.endswith("ckpt-2")
    assert resolve_checkpoint(prefix)[0].root == result.run_dir


@pytest.mark.slow
def test_resuming_with_another_architecture_is_a_clear_error(idx_folder, tmp_path):
    train(build_config(tiny_config_dict(idx_folder, tmp_path / "r")), quiet=True)
    changed = tiny_config_dict(idx_folder, tmp_path / "r", steps=4)
    changed["model"]["generator_widths"] = [32, 8, 4]
    with pytest.raises(ConfigError, match=r"model.generator_widths is \[32, 8, 4\], but .* "
                       "cannot change on resume") as error:
        train(build_config(changed), quiet=True)
    assert error.value.key == "model.generator_widths"
    assert read_metrics(tmp_path / "r")[-1]["step"] == 2  # the run is left as it was


@pytest.mark.slow
def test_ema_generator_is_checkpointed_and_sampled(idx_folder, tmp_path):
    from aigc_cli.inference.trained import load_trained_model

    data = tiny_config_dict(idx_folder, tmp_path / "ema", steps=3)
    data["model"]["ema_decay"] = 0.9
    train(build_config(data), quiet=True)
    model = load_trained_model(tmp_path / "ema").model
    z = tf.random.normal((2, model.latent_dim), seed=1)
    np.testing.assert_allclose(model.generate(z).numpy(),
                               model.ema_generator(z, training=False).numpy())
    assert not np.allclose(model.ema_generator.get_weights()[0],
                           model.generator.get_weights()[0])


def _weights(run_dir):
    from aigc_cli.inference.trained import load_trained_model

    return [v.numpy() for v in load_trained_model(run_dir).model.generator.variables]


@pytest.mark.slow
def test_steps_per_call_gives_the_same_run_as_one_step_per_call(idx_folder, tmp_path):
    def run(name, **training):
        config = build_config(tiny_config_dict(idx_folder, tmp_path / name, steps=7,
                                               log_every=2, sample_every=3,
                                               checkpoint_every=4, **training))
        return train(config, quiet=True).run_dir

    single, batched = run("single"), run("batched", steps_per_call=3)
    for a, b in zip(_weights(single), _weights(batched)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    checkpoints = sorted(p.name for p in (batched / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints == ["ckpt-6.index", "ckpt-7.index"]  # interval 4 crossed at 6, then the end
    grids = sorted(p.name for p in (batched / "samples").glob("*.png"))
    assert [g.rsplit("_", 1)[-1] for g in grids] == ["00000003.png", "00000006.png", "00000007.png"]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_float32_weights(idx_folder, tmp_path, precision):
    import keras

    config = build_config(tiny_config_dict(idx_folder, tmp_path / precision, steps=2,
                                           precision=precision))
    session = build_session(config, RunDir(tmp_path / precision), 0)
    assert session.model.generator.layers[1].compute_dtype == precision.split("_")[1]
    losses = session.train_function(session.iterator, tf.constant(2))
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert all(v.dtype == "float32" for v in session.model.generator.trainable_variables)
    if precision == "mixed_float16":
        assert isinstance(session.model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
def test_jit_compiled_step_matches_the_plain_step(tmp_path):
    # The denoiser's step draws no random numbers (XLA has its own RNG kernels).
    from aigc_cli.inference.trained import load_trained_model
    from conftest import TINY_DENOISER, make_photo_folder

    data = make_photo_folder(tmp_path / "clean")

    def run(name, **training):
        config = build_config({
            "model": dict(TINY_DENOISER),
            "dataset": {"type": "folder", "path": str(data), "channels": 1, "patch_size": 16,
                        "noise": {"sigma": 25}},
            "optimizer": {"denoiser": {"learning_rate": 0.01}},
            "training": {"batch_size": 4, "steps": 3, **training},
            "output": {"run_dir": str(tmp_path / name)}})
        trained = load_trained_model(train(config, quiet=True).run_dir)
        return [v.numpy() for v in trained.model.denoiser.variables]

    plain, xla = run("plain"), run("xla", jit_compile=True)
    assert not np.allclose(plain[-1], 0)  # the (zero-initialised) output layer trained
    for a, b in zip(plain, xla):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
