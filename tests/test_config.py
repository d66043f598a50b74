from pathlib import Path

import pytest
import yaml

from aigc_cli.config import (DCGANConfig, RunConfig, apply_overrides, build_config, dump_config,
                             load_config, upsampling_plan)
from aigc_cli.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
CONFIGS = Path(__file__).parent.parent / "configs"


def test_valid_fixture_fills_defaults_and_reads_1e_minus_4():
    config = load_config(FIXTURES / "valid.yaml")
    assert config.model.latent_dim == 64
    assert config.model.generator_widths == (256, 128, 64)  # default
    # `2e-4` without a dot is a string to YAML 1.1; it must still read as a number.
    assert config.optimizer["generator"].learning_rate == pytest.approx(2e-4)
    assert config.optimizer["discriminator"].learning_rate == pytest.approx(1e-4)
    assert config.output.run_dir == str(Path("runs") / "valid")


@pytest.mark.parametrize("name, fragments", [
    ("unknown_key.yaml", ["model.latnt_dim", "did you mean 'latent_dim'"]),
    ("unknown_section.yaml", ["trainig", "did you mean 'training'"]),
    ("wrong_type.yaml", ["training.batch_size", "whole number", "'many'"]),
    ("out_of_range.yaml", ["optimizer.generator.learning_rate", "> 0"]),
    ("unknown_model.yaml", ["model.type", "dcgann", "did you mean 'dcgan'"]),
    ("python_tag.yaml", ["not valid YAML", "python/object/apply"]),
    ("empty.yaml", ["empty"]),
    ("not_a_mapping.yaml", ["mapping"]),
    ("bad_yaml.yaml", ["not valid YAML", "line"]),
    ("bad_image_size.yaml", ["dataset.image_size", "27"]),
])
def test_invalid_fixtures_name_the_file_and_key(name, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(FIXTURES / name)
    message = str(error.value)
    assert str(FIXTURES / name) in message
    for fragment in fragments:
        assert fragment in message


def test_python_tag_is_never_executed(tmp_path):
    marker = Path("/tmp/aigc-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(ConfigError):
        load_config(FIXTURES / "python_tag.yaml")
    assert not marker.exists()


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_are_typed_and_validated_like_the_file():
    config = load_config(FIXTURES / "valid.yaml", ["training.steps=500",
                                                   "model.generator_widths=[32, 16]",
                                                   "dataset.horizontal_flip=true",
                                                   "training.max_seconds=1.5"])
    assert config.training.steps == 500
    assert config.model.generator_widths == (32, 16)
    assert config.dataset.horizontal_flip is True
    assert config.training.max_seconds == 1.5
    with pytest.raises(ConfigError, match=r"^--set training.batch_size: .*>= 1"):
        load_config(FIXTURES / "valid.yaml", ["training.batch_size=0"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(FIXTURES / "valid.yaml", ["training.steps"])
    with pytest.raises(ConfigError, match="'training.steps' is a value"):
        load_config(FIXTURES / "valid.yaml", ["training.steps.x=1"])


def test_override_creates_missing_sections():
    data = apply_overrides({}, ["optimizer.discriminator.learning_rate=0.01"])
    assert data == {"optimizer": {"discriminator": {"learning_rate": 0.01}}}


@pytest.mark.parametrize("data, fragment", [
    ({"training": {"batch_size": True}}, "training.batch_size must be a whole number"),
    ({"training": {"steps": 2.5}}, "training.steps must be a whole number"),
    ({"dataset": {"channels": 2}}, "dataset.channels must be one of: 1, 3"),
    ({"dataset": {"type": "folder"}}, "dataset.path is required"),
    ({"optimizer": {"critic": {}}}, "this model trains: generator, discriminator"),
    ({"optimizer": {"generator": {"beta_1": 1.5}}}, "optimizer.generator.beta_1 must be <= 1.0"),
    ({"model": {"dropout": "high"}}, "model.dropout must be a number"),
    ({"model": {"generator_widths": [64, 0]}}, "model.generator_widths must be >= 1"),
    ({"model": {"generator_widths": 64}}, "model.generator_widths must be a list"),
    ({"training": {"max_seconds": float("nan")}}, "finite"),
    ({"training": {"batch_size": 10**30}}, "training.batch_size must be <= 65536"),
    ({"model": {"generator_widths": [10**12]}}, "model.generator_widths must be <= 8192"),
    ({"training": None, "model": []}, "model must be a mapping"),
    ({"model": {"type": []}}, "unknown model.type '[]'"),  # found by the fuzz test
    ({"model": {"type": "denoiser", "kernel_size": 4}, "dataset": {"noise": {"sigma": 25}}},
     "model.kernel_size must be odd"),
    ({"model": {"type": "denoiser", "noise_map": False},
      "dataset": {"noise": {"sigma": 25, "poisson_gain": 0.01, "level_map": True}}},
     "dataset.noise.level_map tells the network its noise level, but model.noise_map is false"),
    ({"model": {"type": "denoiser", "half_resolution": True},
      "dataset": {"noise": {"sigma": 25}, "image_size": 27}},
     "dataset.image_size must be even with model.half_resolution, got 27"),
    ({"model": {"type": "denoising_vae", "widths": [8, 8]},
      "dataset": {"noise": {"sigma": 25}, "image_size": 30}},
     "dataset.image_size must be a multiple of 4"),
    ({"model": {"type": "denoising_vae", "widths": [8]},
      "dataset": {"noise": {"sigma": 25}, "image_size": 30, "patch_size": 15}},
     "dataset.patch_size must be a multiple of 2"),
])
def test_bad_values_name_the_dotted_key(data, fragment):
    with pytest.raises(ConfigError) as error:
        build_config(data)
    assert fragment in str(error.value)


def test_dump_round_trips_every_default(tmp_path):
    config = load_config(FIXTURES / "valid.yaml", ["output.run_dir=somewhere"])
    text = dump_config(config)
    assert "leaky_relu_slope" in text and "keep_checkpoints" in text
    reloaded = build_config(yaml.safe_load(text))
    assert reloaded == config
    assert isinstance(reloaded, RunConfig)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    load_config(path)


def test_reference_config_is_the_tensorflow_tutorial():
    config = load_config(CONFIGS / "reference_dcgan.yaml")
    assert config.model == DCGANConfig()  # the defaults are the tutorial
    assert config.training.batch_size == 256
    assert all(o.learning_rate == 1e-4 and o.beta_1 == 0.9 for o in config.optimizer.values())


@pytest.mark.parametrize("size, widths, expected", [
    (28, 3, (7, 2)), (32, 3, (4, 3)), (64, 3, (8, 3)), (64, 4, (4, 4)), (27, 3, (27, 0)),
])
def test_upsampling_plan(size, widths, expected):
    assert upsampling_plan(size, widths) == expected


def test_free_bits_groups_must_split_the_latent_evenly():
    model = {"type": "vae", "latent_dim": 32, "top_latent_dim": 4, "free_bits": 0.5}
    build_config({"model": {**model, "free_bits_groups": 12}})  # 36 dimensions: fine
    with pytest.raises(ConfigError, match="free_bits_groups 5 must divide") as error:
        build_config({"model": {**model, "free_bits_groups": 5}})
    assert error.value.key == "model.free_bits_groups"


def test_an_auxiliary_likelihood_needs_a_pixel_head():
    with pytest.raises(ConfigError, match="autoregressive_layers >= 1") as error:
        build_config({"model": {"type": "vae", "auxiliary_weight": 1.0}})
    assert error.value.key == "model.auxiliary_weight"
