"""Shared fixtures: tiny IDX datasets and tiny configs, so tests need no network."""

from __future__ import annotations

import gzip
import logging
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import settings

# CI replays the same fuzz examples every run (a red CI blocks a landing); a developer's
# run draws new ones, which is how the fuzz tests keep finding bugs.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

from aigc_cli.config import build_config

# The team's data checkout beside the repository (DESIGN.md: AIGC_DATA_DIR=../shared/data).
SHARED_FASHION_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist"

TINY_MODEL = {"type": "dcgan", "latent_dim": 8, "generator_widths": [16, 8, 4],
              "discriminator_widths": [4, 8], "kernel_size": 3}
TINY_VAE = {"type": "vae", "latent_dim": 4, "encoder_widths": [4, 8], "hidden_units": 16}


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the gzipped IDX format (the MNIST file format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def make_idx_dataset(folder: Path, count: int = 64, size: int = 28, seed: int = 0) -> Path:
    """A Fashion-MNIST-shaped dataset of ``count`` random blobs, both splits."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for images_name, labels_name in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                                     ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        centres = rng.uniform(6, size - 6, (count, 2))
        images = np.stack([255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0)
                           for cy, cx in centres])
        write_idx(folder / f"{images_name}.gz", images.astype(np.uint8))
        write_idx(folder / f"{labels_name}.gz", rng.integers(0, 10, count).astype(np.uint8))
    return folder


@pytest.fixture(scope="session")
def idx_folder(tmp_path_factory) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("data") / "tiny-mnist")


def tiny_config_dict(data_path: Path, run_dir: Path, model: dict | None = None,
                     **training) -> dict:
    """A config dict for a seconds-long run of a tiny model (a DCGAN by default)."""
    return {
        "model": dict(model or TINY_MODEL),
        "dataset": {"type": "fashion_mnist", "path": str(data_path), "download": False},
        "training": {"batch_size": 8, "steps": 2, "log_every": 1, "sample_every": 2,
                     "checkpoint_every": 2, "preview_images": 4, **training},
        "output": {"run_dir": str(run_dir)},
    }


@pytest.fixture
def tiny_config(idx_folder, tmp_path):
    """Build a validated RunConfig for a tiny run; keyword arguments set training keys."""
    def make(**training):
        return build_config(tiny_config_dict(idx_folder, tmp_path / "run", **training))
    return make


@pytest.fixture
def tiny_vae_run(idx_folder, tmp_path):
    """A tiny VAE trained for 3 steps; returns its run dir."""
    from aigc_cli.training.loop import train

    config = build_config(tiny_config_dict(idx_folder, tmp_path / "vae_run", TINY_VAE, steps=3))
    return train(config, quiet=True).run_dir


TINY_DENOISER = {"type": "denoiser", "depth": 4, "width": 4, "half_resolution": True}


def make_photo_folder(folder: Path, count: int = 6, size: int = 40, channels: int = 1) -> Path:
    """Smooth random images with some edges, as PNG files."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for index in range(count):
        base = rng.uniform(0, 255, (size // 8, size // 8, channels))
        image = np.kron(base, np.ones((8, 8, 1))).astype(np.uint8)
        Image.fromarray(image[..., 0] if channels == 1 else image).save(folder / f"{index}.png")
    return folder


@pytest.fixture
def tiny_denoiser_run(tmp_path):
    """A tiny half-resolution denoiser trained for 2 steps on gray patches."""
    from aigc_cli.training.loop import train

    data = make_photo_folder(tmp_path / "clean")
    config = build_config({
        "model": dict(TINY_DENOISER),
        "dataset": {"type": "folder", "path": str(data), "channels": 1, "patch_size": 16,
                    "random_rotations": True, "noise": {"sigma": [0, 55]}},
        "training": {"batch_size": 4, "steps": 2, "log_every": 1, "sample_every": 2,
                     "checkpoint_every": 2, "preview_images": 4},
        "output": {"run_dir": str(tmp_path / "denoiser_run")},
    })
    return train(config, quiet=True).run_dir


def randomize_weights(network, seed: int = 0, gain: float = 1.0) -> None:
    """Give every weight a random value: a denoiser's zero-initialised output layer would
    otherwise make an untrained network the identity, hiding what tests look for."""
    rng = np.random.default_rng(seed)
    for variable in network.trainable_variables:
        # He-scaled kernels keep the ReLUs alive, so the output depends on the input and
        # not only on the biases and the zero padding (N(0, 0.2^2) everywhere killed them).
        if len(variable.shape) > 1:
            std = gain * np.sqrt(2.0 / int(np.prod(variable.shape[:-1])))
        else:
            std = 0.05 * gain
        variable.assign(std * rng.standard_normal(variable.shape).astype("float32"))


@pytest.fixture
def aigc_log(caplog):
    """caplog for the "aigc" logger, which the CLI stops from propagating to the root."""
    logger = logging.getLogger("aigc")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="aigc")
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def check_bounds_reach_a_gaussian_likelihood(model, variance: float) -> None:
    """The ELBO and IWAE bounds of ``model``, whose data x is N(0, variance) exactly, on
    16 gray levels (in [-1, 1]) each repeated so that one-sample estimates average out."""
    from aigc_cli.data.sources import ImageSet
    from aigc_cli.metrics.elbo import evaluate_elbo

    images = np.repeat(np.arange(0, 256, 16, dtype=np.uint8), 256).reshape(-1, 1, 1, 1)
    x = images.astype(np.float64) / 127.5 - 1.0
    true_nll = np.mean(0.5 * x ** 2 / variance + 0.5 * np.log(2 * np.pi * variance))
    one = evaluate_elbo(model, ImageSet(images, None, "t"), {"importance_samples": 1})
    many = evaluate_elbo(model, ImageSet(images, None, "t"), {"importance_samples": 500})
    assert many["neg_elbo_nats"] > true_nll + 0.05  # q is not the posterior: a real gap
    assert many["nll_iw_nats"] == pytest.approx(true_nll, abs=0.01)
    assert many["nll_iw_nats"] < one["nll_iw_nats"] - 0.05  # more samples, tighter bound
    assert one["neg_elbo_nats"] == pytest.approx(many["neg_elbo_nats"], abs=0.3)
