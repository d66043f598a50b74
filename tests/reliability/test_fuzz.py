"""Fuzzing: the config loader and the image readers never raise anything but their own
one-line errors, whatever bytes or values they are fed."""

import io

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aigc_cli.config import load_config
from aigc_cli.errors import ConfigError
from aigc_cli.io.images import read_image, to_array
from aigc_cli.io.photos import read_photo

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = ["model", "dataset", "optimizer", "training", "output", "type", "latent_dim",
        "batch_size", "steps", "noise", "sigma", "generator", "learning_rate", "path",
        "image_size", "channels", "distribute", "precision", "unknown"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=12)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_any_yaml_structure_is_valid_or_one_config_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_config(path)
    except ConfigError as error:
        assert str(error) and "\n" not in str(error).strip()


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_as_a_config_file(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_bytes(raw)
    try:
        load_config(path)
    except ConfigError:
        pass


def _png_bytes():
    stream = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(stream, "PNG")
    return stream.getvalue()


@FUZZ
@given(st.data())
def test_corrupted_image_bytes_decode_or_raise_an_ordinary_error(tmp_path_factory, data):
    raw = bytearray(_png_bytes())
    for _ in range(data.draw(st.integers(1, 8))):  # flip bytes, then maybe cut the file
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = tmp_path_factory.mktemp("fuzz") / "image.png"
    path.write_bytes(bytes(raw))
    for read in (lambda: to_array(read_image(path), 1), lambda: read_photo(path)):
        try:
            read()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            pass  # Pillow's ways to refuse a file; callers report "skipped FILE: reason"
        except Exception as error:  # TensorFlow's decoder raises its own error types
            assert type(error).__module__.startswith("tensorflow"), repr(error)
