import numpy as np
import pytest

from aigc_cli.errors import InputError
from aigc_cli.metrics import features

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


def test_inception_weights_missing_offline_names_every_place_looked(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("AIGC_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.h5"))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(InputError) as error:
        features.find_inception_weights()
    message = str(error.value)
    assert str(tmp_path / "nowhere.h5") in message
    assert str(tmp_path / "keras" / "models" / features.INCEPTION_WEIGHTS) in message


def test_inception_extractor_from_a_local_weights_file(tmp_path, monkeypatch):
    import keras

    # Random weights in the real architecture: checks the wiring, not ImageNet quality.
    weights = tmp_path / "inception.weights.h5"
    keras.applications.InceptionV3(include_top=True, weights=None).save_weights(str(weights))
    monkeypatch.setenv("AIGC_INCEPTION_WEIGHTS", str(weights))
    extractor = features.load_feature_extractor(None, "inception")
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    pooled, log_probs = extractor.features_and_logits(images)
    assert pooled.shape == (3, 2048) and log_probs.shape == (3, 1000)
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=1), 1.0, rtol=1e-4)
    assert extractor.name == "inception_v3 imagenet" and len(extractor.fingerprint) == 16


def test_unreadable_inception_weights_are_an_input_error(tmp_path):
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="not a readable InceptionV3 weights file"):
        features.inception_extractor(broken)
