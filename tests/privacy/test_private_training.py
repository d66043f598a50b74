"""Private runs through the shared loop and the CLI: what is recorded, what stops them,
what is refused."""

import json

import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.cli import main
from aigc_cli.config import build_config
from aigc_cli.privacy.accounting import epsilon
from aigc_cli.privacy.sampling import poisson_indices

from conftest import make_photo_folder, tiny_config_dict

TINY_CLASSIFIER = {"type": "classifier", "widths": [4, 8], "feature_units": 8,
                   "normalization": "group"}
PRIVACY = {"clip_norm": 1.0, "noise_multiplier": 1.2}


def _config(idx_folder, run_dir, privacy=PRIVACY, model=TINY_CLASSIFIER, **training):
    return tiny_config_dict(idx_folder, run_dir, model, privacy=privacy,
                            **{"steps": 3, **training})


def test_a_private_run_records_what_it_spent(idx_folder, tmp_path):
    from aigc_cli.training.loop import train

    result = train(build_config(_config(idx_folder, tmp_path / "run")), quiet=True)
    assert result.step == 3
    manifest = json.loads((result.run_dir / "manifest.json").read_text())["privacy"]
    assert manifest["sampling_rate"] == 8 / 64 and manifest["steps"] == 3
    assert manifest["epsilon"] == pytest.approx(
        epsilon(1.2, 8 / 64, 3, manifest["delta"], "pld"))
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    spent = [record["privacy/epsilon"] for record in records if "privacy/epsilon" in record]
    assert len(spent) == 3 and spent == sorted(spent) and spent[-1] == manifest["epsilon"]
    assert all(np.isfinite(record["loss"]) for record in records if "loss" in record)
    from aigc_cli.inference.evaluation import evaluate

    report = evaluate(result.run_dir, limit=16)
    assert report["privacy"]["epsilon"] == manifest["epsilon"] and "accuracy" in report


def test_the_run_stops_with_a_checkpoint_when_the_budget_is_spent(idx_folder, tmp_path):
    from aigc_cli.training.loop import train

    privacy = {**PRIVACY, "target_epsilon": epsilon(1.2, 8 / 64, 2, 1e-5) + 1e-3,
               "delta": 1e-5}
    result = train(build_config(_config(idx_folder, tmp_path / "run", privacy, steps=6)),
                   quiet=True)
    assert (result.step, result.stop_reason) == (2, "privacy_budget")
    assert result.checkpoint and result.checkpoint.endswith("-2")


def test_batch_norm_in_a_private_network_is_refused(idx_folder, tmp_path, runner):
    config = _config(idx_folder, tmp_path / "run",
                     model={**TINY_CLASSIFIER, "normalization": "batch"})
    (tmp_path / "c.yaml").write_text(json.dumps(config))
    result = runner.invoke(main, ["train", str(tmp_path / "c.yaml"), "-q"])
    assert result.exit_code == 2
    assert "BatchNormalization" in result.output and "model.normalization" in result.output
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_resume_with_other_privacy_settings_is_refused(idx_folder, tmp_path, runner):
    (tmp_path / "c.yaml").write_text(json.dumps(_config(idx_folder, tmp_path / "run")))
    assert runner.invoke(main, ["train", str(tmp_path / "c.yaml"), "-q"]).exit_code == 0
    changed = runner.invoke(main, ["train", str(tmp_path / "c.yaml"), "-q", "--set",
                                   "training.steps=5", "--set",
                                   "training.privacy.clip_norm=2.0"])
    assert changed.exit_code == 2 and "clip_norm is 2.0" in changed.output
    dropped = runner.invoke(main, ["train", str(tmp_path / "c.yaml"), "-q", "--set",
                                   "training.steps=5", "--set", "training.privacy=null"])
    assert dropped.exit_code == 2 and "was trained private" in dropped.output
    same = runner.invoke(main, ["train", str(tmp_path / "c.yaml"), "-q", "--set",
                                "training.steps=5"])
    assert same.exit_code == 0, same.output  # the same settings continue the accounting


@pytest.mark.slow
@pytest.mark.parametrize("model", [
    {"type": "denoiser", "depth": 3, "width": 4, "batch_norm": False},
    {"type": "denoising_vae", "widths": [4, 8], "latent_channels": 2, "free_bits": 0.1}])
def test_a_private_denoiser_trains_on_poisson_sampled_patches(tmp_path, model):
    from aigc_cli.training.loop import train

    data = make_photo_folder(tmp_path / "clean", count=12)
    config = build_config({
        "model": model,
        "dataset": {"type": "folder", "path": str(data), "channels": 1, "patch_size": 16,
                    "noise": {"sigma": [0, 55]}},
        "training": {"batch_size": 4, "steps": 2, "log_every": 1, "sample_every": 2,
                     "checkpoint_every": 2, "preview_images": 4, "privacy": PRIVACY},
        "output": {"run_dir": str(tmp_path / "run")}})
    result = train(config, quiet=True)
    manifest = json.loads((result.run_dir / "manifest.json").read_text())["privacy"]
    assert result.step == 2 and manifest["training_images"] == 12
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["psnr"]) for r in records if "loss" in r)


def test_privacy_command_reports_the_plan(idx_folder, tmp_path, runner):
    config = _config(idx_folder, tmp_path / "run", {"target_epsilon": 3.0}, steps=50)
    (tmp_path / "c.yaml").write_text(json.dumps(config))
    result = runner.invoke(main, ["privacy", str(tmp_path / "c.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"epsilon", "delta", "noise_multiplier", "sampling_rate", "steps",
            "accountant"} <= set(report)
    assert report["epsilon"] == pytest.approx(3.0, rel=0.01) and report["steps"] == 50
    assert report["delta"] == 1e-5 and report["accountant"] == "pld"
    bare = runner.invoke(main, ["privacy", str(tmp_path / "c.yaml"), "--set",
                                "training.privacy=null"])
    assert bare.exit_code == 2 and "no training.privacy" in bare.output
    neither = runner.invoke(main, ["privacy", str(tmp_path / "c.yaml"), "--set",
                                   "training.privacy.target_epsilon=null"])
    assert neither.exit_code == 2 and "noise_multiplier" in neither.output


def test_poisson_samples_have_the_expected_size_and_a_mask():
    sizes = []
    for step in range(200):
        indices, mask = poisson_indices(1000, 0.05, 90, tf.constant([3, step], tf.int64))
        taken = int(mask.numpy().sum())
        assert mask.shape == (90,) and indices.shape == (90,)
        assert set(mask.numpy()[:taken]) <= {1.0} and not mask.numpy()[taken:].any()
        assert len(set(indices.numpy()[:taken])) == taken  # each image at most once
        sizes.append(taken)
    assert np.mean(sizes) == pytest.approx(50, abs=1.5)
    assert np.var(sizes) == pytest.approx(1000 * 0.05 * 0.95, rel=0.3)  # binomial


@pytest.mark.parametrize("conditional", [False, True])
def test_a_private_gan_clips_and_noises_its_discriminator(idx_folder, tmp_path, conditional):
    from aigc_cli.training.loop import train

    from conftest import TINY_MODEL

    model = {**TINY_MODEL, **({"num_classes": 10} if conditional else {})}
    result = train(build_config(_config(idx_folder, tmp_path / "run", model=model, steps=2)),
                   quiet=True)
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    assert result.step == 2 and all(np.isfinite(r["d_loss"]) for r in records if "d_loss" in r)
    assert 0.0 < records[-1]["d_real"] < 1.0 and "privacy/epsilon" in records[-1]


def test_minibatch_std_in_a_private_discriminator_is_refused(idx_folder, tmp_path):
    from aigc_cli.errors import ConfigError
    from aigc_cli.training.loop import train

    from conftest import TINY_MODEL

    config = build_config(_config(idx_folder, tmp_path / "run",
                                  model={**TINY_MODEL, "minibatch_std": True}))
    with pytest.raises(ConfigError, match="model.minibatch_std"):
        train(config, quiet=True)


@pytest.mark.parametrize("head", [False, True])
def test_a_private_vae_trains_encoder_decoder_and_head(idx_folder, tmp_path, head):
    from aigc_cli.training.loop import train

    from conftest import TINY_VAE

    model = {**TINY_VAE, **({"autoregressive_layers": 1, "autoregressive_width": 4,
                             "auxiliary_weight": 1.0} if head else {})}
    result = train(build_config(_config(idx_folder, tmp_path / "run", model=model, steps=2)),
                   quiet=True)
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    last = [r for r in records if "neg_elbo" in r][-1]
    assert result.step == 2 and np.isfinite(last["neg_elbo"]) and last["kl_loss"] >= 0
    assert ("auxiliary_loss" in last) is head


def test_a_private_step_moves_the_weights_by_clipped_gradients_only(idx_folder, tmp_path):
    """One SGD step (learning rate 1) of a private run moves the weights by at most
    (selected examples x clip_norm + noise) / (q N): a gradient that escaped the clip
    (a variable left out of it) would move them by about its own norm."""
    from aigc_cli.training.loop import build_session, train
    from aigc_cli.training.rundir import RunDir

    clip = 1e-4
    privacy = {"clip_norm": clip, "noise_multiplier": 1e-6, "accountant": "rdp"}

    def config(run_dir):
        settings = _config(idx_folder, run_dir, privacy, steps=1)
        settings["optimizer"] = {"classifier": {"type": "sgd", "learning_rate": 1.0}}
        return build_config(settings)

    def weights(session):
        return [v.numpy() for v in session.model.classifier.trainable_variables]

    before = weights(build_session(config(tmp_path / "fresh"), RunDir(tmp_path / "fresh"), 0))
    result = train(config(tmp_path / "run"), quiet=True)
    after = weights(build_session(config(tmp_path / "run"), RunDir(result.run_dir), 1))
    moved = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(after, before)))
    # At most all 64 images selected, each clipped to `clip`; divided by q N = 8.
    assert 0.0 < moved <= 64 * clip * 1.001 / 8


def test_a_private_gans_generator_update_reads_no_training_data(idx_folder, tmp_path):
    """The generator's update is outside the clipped sum, so it may not depend on the
    batch: not its images, not its labels, not which rows the sample selected."""
    from aigc_cli.training.loop import build_session
    from aigc_cli.training.rundir import RunDir

    from conftest import TINY_MODEL

    config = build_config(_config(idx_folder, tmp_path / "run",
                                  model={**TINY_MODEL, "num_classes": 10}, steps=1))
    rng = np.random.default_rng(0)

    def generator_after_one_step(name):
        model = build_session(config, RunDir(tmp_path / name), 0).model
        capacity = 16
        images = tf.constant(rng.uniform(-1, 1, (capacity, 28, 28, 1)), tf.float32)
        labels = tf.constant(rng.integers(0, 10, capacity), tf.int32)
        mask = tf.constant(rng.integers(0, 2, capacity), tf.float32)
        model.private_train_step(((images, labels), mask))
        return [w.numpy() for w in model.generator.trainable_variables]

    first, second = generator_after_one_step("a"), generator_after_one_step("b")
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
