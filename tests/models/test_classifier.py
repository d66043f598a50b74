import json

import numpy as np
import pytest

from aigc_cli.cli import main
from aigc_cli.config import build_config
from aigc_cli.errors import CheckpointError
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.models.assets import load_model_asset, save_model_asset
from aigc_cli.training.loop import train

from conftest import tiny_config_dict

TINY_CLASSIFIER = {"type": "classifier", "widths": [4, 8], "feature_units": 8}


@pytest.fixture
def classifier_run(idx_folder, tmp_path):
    config = build_config(tiny_config_dict(idx_folder, tmp_path / "clf", TINY_CLASSIFIER,
                                           steps=3))
    return train(config, quiet=True).run_dir


@pytest.mark.slow
def test_classifier_trains_on_labels_and_reports_accuracy(classifier_run, runner):
    records = [json.loads(line) for line in (classifier_run / "metrics.jsonl").open()]
    assert {"loss", "accuracy"} <= set(records[-1]) and 0 <= records[-1]["accuracy"] <= 1
    result = runner.invoke(main, ["eval", str(classifier_run), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "classifier" and 0.0 <= report["accuracy"] <= 1.0


@pytest.mark.slow
def test_asset_round_trip_gives_the_same_features(classifier_run, tmp_path):
    trained = load_trained_model(classifier_run)
    network = trained.model.classifier
    path = tmp_path / "clf.npz"
    save_model_asset(trained.model, trained.config.model, (28, 28, 1), path)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    restored = load_model_asset(path).classifier
    np.testing.assert_allclose(restored(images)[0], network(images)[0], rtol=1e-6)
    half = tmp_path / "clf16.npz"
    save_model_asset(trained.model, trained.config.model, (28, 28, 1), half, "float16")
    with np.load(half) as stored:
        assert {stored[key].dtype for key in stored.files if key != "meta"} == {np.dtype("float16")}
    restored = load_model_asset(half).classifier
    np.testing.assert_allclose(restored(images)[0], network(images)[0], rtol=0.02, atol=1e-3)
    assert not np.array_equal(restored(images)[0], network(images)[0])  # it was rounded
    with pytest.raises(ValueError, match="float32 or float16"):
        save_model_asset(trained.model, trained.config.model, (28, 28, 1), half, "int8")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a valid aigc model asset"):
        load_model_asset(path)


@pytest.mark.slow
def test_gan_fid_with_a_trained_feature_extractor(classifier_run, tiny_config, runner):
    gan_run = train(tiny_config(steps=2), quiet=True).run_dir
    pairs = gan_run / "closest_pairs.png"
    result = runner.invoke(main, ["eval", str(gan_run), "--json", "--fid-samples", "40",
                                  "--limit", "40", "--feature-extractor", str(classifier_run),
                                  "--closest-pairs", str(pairs)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fid"] > 0 and report["fid_samples"] == 40
    assert report["fid_feature_extractor"].startswith("classifier:")
    assert 0 < report["sampling_seconds"] < 60  # generating the 40, not the whole eval
    # the memorization audit against the training split, in the same features: an
    # untrained generator's blobs are far from every training image
    assert np.isfinite(report["memorization_ct"])
    assert 0.0 <= report["memorization_copied_fraction"] < 0.5
    from PIL import Image

    assert Image.open(pairs).size == (8 * 30 + 2, 8 * 30 + 2)  # 32 pairs of 28-pixel tiles


@pytest.mark.slow
def test_fid_without_an_extractor_for_the_dataset_says_how_to_get_one(tiny_config, runner,
                                                                     tmp_path):
    config = tiny_config(steps=1)
    run = train(config.replace(dataset=config.dataset.__class__(
        type="mnist", path=config.dataset.path, download=False)), quiet=True).run_dir
    result = runner.invoke(main, ["eval", str(run), "--limit", "8", "--fid-samples", "8"])
    assert result.exit_code == 2 and "--feature-extractor" in result.output
