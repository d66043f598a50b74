import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aigc_cli.cli import main
from aigc_cli.inference.sampling import sample_latents
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.io.images import to_uint8
from aigc_cli.models.gan import build_dcgan
from aigc_cli.training.loop import build_session, train
from aigc_cli.training.rundir import RunDir


def trained_run(tiny_config, idx_folder, tmp_path):
    result = train(tiny_config(steps=2), quiet=True)
    # A run dir must work without its dataset (e.g. copied to another machine).
    moved = tmp_path / "moved_run"
    shutil.copytree(result.run_dir, moved)
    return moved


@pytest.mark.slow
def test_sample_writes_n_files_byte_identical_per_seed(tiny_config, idx_folder, tmp_path, runner):
    run = trained_run(tiny_config, idx_folder, tmp_path)
    outputs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        result = runner.invoke(main, ["sample", str(run), "-n", "7", "--seed", str(seed),
                                      "--out", str(tmp_path / name), "--batch-size", "3", "-q"])
        assert result.exit_code == 0, result.output
        outputs[name] = sorted((tmp_path / name).iterdir())
    assert [p.name for p in outputs["a"]] == [f"sample_{i:06d}.png" for i in range(7)]
    assert [p.read_bytes() for p in outputs["a"]] == [p.read_bytes() for p in outputs["b"]]
    assert [p.read_bytes() for p in outputs["a"]] != [p.read_bytes() for p in outputs["c"]]
    assert Image.open(outputs["a"][0]).size == (28, 28)


@pytest.mark.slow
def test_sample_grid_from_a_checkpoint_prefix(tiny_config, idx_folder, tmp_path, runner):
    run = trained_run(tiny_config, idx_folder, tmp_path)
    grid = tmp_path / "grid.png"
    result = runner.invoke(main, ["sample", str(run / "checkpoints" / "ckpt-2"), "-n", "9",
                                  "--grid", str(grid), "-q"])
    assert result.exit_code == 0, result.output
    assert Image.open(grid).size == (3 * 30 + 2, 3 * 30 + 2)


@pytest.mark.slow
def test_sampling_restores_the_trained_generator(tiny_config, idx_folder, tmp_path):
    run = trained_run(tiny_config, idx_folder, tmp_path)
    trained = load_trained_model(run)
    model = trained.model
    assert trained.checkpoint.endswith("ckpt-2") and trained.step == 2
    training_view = build_session(tiny_config(steps=2), RunDir(run), 2).model.generator
    config = tiny_config()
    fresh = build_dcgan(config.model, config.optimizer, (28, 28, 1), seed=3)
    restored = [v.numpy() for v in model.generator.variables]
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(restored, training_view.variables))
    assert not all(np.array_equal(a, b.numpy())
                   for a, b in zip(restored, fresh.generator.variables))
    assert sample_latents(3, 4, seed=1).shape == (3, 4)


def test_existing_output_folder_is_not_clobbered(tiny_config, idx_folder, tmp_path, runner):
    run = trained_run(tiny_config, idx_folder, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.png").write_bytes(b"precious")
    result = runner.invoke(main, ["sample", str(run), "-n", "2", "--out", str(out), "-q"])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (out / "mine.png").read_bytes() == b"precious"


@pytest.mark.slow
def test_vae_prior_interpolation_and_reconstruction_counts(tiny_vae_run, tmp_path, runner):
    prior = runner.invoke(main, ["sample", str(tiny_vae_run), "-n", "5", "--temperature", "0.7",
                                 "--out", str(tmp_path / "prior"), "-q"])
    assert prior.exit_code == 0, prior.output
    assert len(list((tmp_path / "prior").iterdir())) == 5

    walk = runner.invoke(main, ["sample", str(tiny_vae_run), "-n", "3", "--interpolate", "4",
                                "--out", str(tmp_path / "walk"), "--grid",
                                str(tmp_path / "walk.png"), "-q"])
    assert walk.exit_code == 0, walk.output
    assert len(list((tmp_path / "walk").iterdir())) == 12
    assert Image.open(tmp_path / "walk.png").size == (4 * 30 + 2, 3 * 30 + 2)

    inputs = tmp_path / "inputs"
    (inputs / "nested").mkdir(parents=True)
    Image.new("L", (50, 40), 200).save(inputs / "a.png")
    Image.new("RGB", (28, 28), (9, 9, 9)).save(inputs / "nested" / "b.jpg")
    (inputs / "broken.png").write_bytes(b"not a png")
    recon = runner.invoke(main, ["sample", str(tiny_vae_run), "--reconstruct", str(inputs),
                                 "--out", str(tmp_path / "recon"), "-q"])
    assert recon.exit_code == 0, recon.output
    assert "skipped 1" in recon.output
    written = sorted(p.relative_to(tmp_path / "recon").as_posix()
                     for p in (tmp_path / "recon").rglob("*.png"))
    assert written == ["a.png", "nested/b.png"]
    assert Image.open(tmp_path / "recon" / "a.png").size == (56, 28)  # input | output


@pytest.mark.slow
def test_reconstruct_needs_an_encoder(tiny_config, idx_folder, tmp_path, runner):
    run = trained_run(tiny_config, idx_folder, tmp_path)
    (tmp_path / "in").mkdir()
    result = runner.invoke(main, ["sample", str(run), "--reconstruct", str(tmp_path / "in"),
                                  "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no encoder" in result.output


def test_truncation_shrinks_the_latents():
    plain = sample_latents(2000, 16, seed=3)
    truncated = sample_latents(2000, 16, seed=3, truncation=0.5)
    assert np.abs(truncated).max() <= 0.5 < np.abs(plain).max()
    assert np.linalg.norm(truncated, axis=1).mean() < 0.5 * np.linalg.norm(plain, axis=1).mean()


@pytest.mark.slow
def test_sample_class_feeds_that_label_to_a_conditional_generator(idx_folder, tmp_path, runner):
    from aigc_cli.config import build_config
    from conftest import TINY_MODEL, tiny_config_dict

    config = build_config(tiny_config_dict(idx_folder, tmp_path / "run",
                                           {**TINY_MODEL, "num_classes": 10}, steps=2))
    run = train(config, quiet=True).run_dir
    result = runner.invoke(main, ["sample", str(run), "-n", "4", "--seed", "2", "--class", "7",
                                  "--out", str(tmp_path / "seven"), "-q"])
    assert result.exit_code == 0, result.output
    written = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "seven").iterdir())])
    generator = load_trained_model(run).model.generator
    latents = sample_latents(4, generator.input_shape[0][-1], seed=2)
    def mismatches(label):  # pixels unlike the generator's own output for that label
        direct = to_uint8(generator([latents, np.full(4, label, np.int32)], training=False))
        return int(np.sum(direct[..., 0] != written))

    assert mismatches(7) < 0.01 * written.size < mismatches(3)
    unconditional = train(build_config(tiny_config_dict(
        idx_folder, tmp_path / "plain", steps=1)), quiet=True).run_dir
    result = runner.invoke(main, ["sample", str(unconditional), "--class", "1", "-n", "2",
                                  "--out", str(tmp_path / "x"), "-q"])
    assert result.exit_code == 2 and "not a class-conditional model" in result.output
    result = runner.invoke(main, ["sample", str(run), "--class", "10", "-n", "2",
                                  "--out", str(tmp_path / "y"), "-q"])
    assert result.exit_code == 2 and "classes 0-9" in result.output


@pytest.mark.slow
def test_reconstructions_alone_keep_names_and_formats_and_walk_between_two(
        tiny_vae_run, tmp_path, runner):
    inputs = tmp_path / "inputs"
    (inputs / "nested").mkdir(parents=True)
    Image.new("L", (50, 40), 200).save(inputs / "a.png")
    Image.new("RGB", (28, 28), (90, 9, 9)).save(inputs / "nested" / "b.jpg")
    Image.new("RGB", (30, 30), (9, 90, 9)).save(inputs / "c.png", format="JPEG")  # misnamed
    Image.new("L", (28, 28), 20).save(inputs / "d.png")
    recon = runner.invoke(main, ["sample", str(tiny_vae_run), "--reconstruct", str(inputs),
                                 "--no-pairs", "--out", str(tmp_path / "recon"), "-q"])
    assert recon.exit_code == 0, recon.output
    formats = {p.relative_to(tmp_path / "recon").as_posix(): Image.open(p).format
               for p in (tmp_path / "recon").rglob("*") if p.is_file()}
    assert formats == {"a.png": "PNG", "nested/b.jpg": "JPEG", "c.png": "JPEG", "d.png": "PNG"}
    assert Image.open(tmp_path / "recon" / "a.png").size == (28, 28)  # the output alone

    walk = runner.invoke(main, ["sample", str(tiny_vae_run), "--interpolate", "5", "--between",
                                str(inputs / "a.png"), str(inputs / "d.png"),
                                "--out", str(tmp_path / "walk"), "-q"])
    assert walk.exit_code == 0, walk.output
    files = sorted((tmp_path / "walk").iterdir())
    assert [p.name for p in files] == [f"between_{i:03d}.png" for i in range(5)]

    lonely = runner.invoke(main, ["sample", str(tiny_vae_run), "--between",
                                  str(inputs / "a.png"), str(inputs / "d.png")])
    assert lonely.exit_code == 2 and "--interpolate" in lonely.output
    (inputs / "broken.png").write_bytes(b"not a png")
    broken = runner.invoke(main, ["sample", str(tiny_vae_run), "--interpolate", "3", "--between",
                                  str(inputs / "a.png"), str(inputs / "broken.png"), "-q",
                                  "--out", str(tmp_path / "walk2")])
    assert broken.exit_code == 2 and "cannot read" in broken.output and "broken.png" in broken.output
    assert "Traceback" not in broken.output
    stray = runner.invoke(main, ["sample", str(tiny_vae_run), "--no-pairs"])
    assert stray.exit_code == 2 and "--reconstruct" in stray.output


class BrightnessVAE:
    """z is an image's mean brightness; decoding fills the image with it."""

    latent_dim = 1

    def encode(self, x):
        return tf.reduce_mean(x, axis=[1, 2, 3])[:, None], tf.zeros((tf.shape(x)[0], 1))

    def decode_mean(self, z):  # the walk decodes latents, not prior noise
        return tf.ones((tf.shape(z)[0], 28, 28, 1)) * tf.reshape(z, (-1, 1, 1, 1))

    reconstruct = None  # has an encoder


def test_walk_between_two_images_runs_from_one_posterior_mean_to_the_other(tmp_path,
                                                                          monkeypatch):
    from aigc_cli.config import DatasetConfig
    from aigc_cli.inference import sampling

    trained = SimpleNamespace(model=BrightnessVAE(), checkpoint="ckpt-1", config=SimpleNamespace(
        dataset=DatasetConfig(type="folder", image_size=28, channels=1)))
    monkeypatch.setattr(sampling, "load_trained_model", lambda source: trained)
    monkeypatch.setattr(sampling, "generation_record", lambda trained: {"tool": "aigc"})
    Image.new("L", (40, 40), 204).save(tmp_path / "light.png")
    Image.new("L", (28, 28), 51).save(tmp_path / "dark.png")
    result = sampling.interpolate_between("run", tmp_path / "light.png", tmp_path / "dark.png",
                                          4, tmp_path / "walk", None, quiet=True)
    levels = [np.asarray(Image.open(path)).mean() for path in result.files]
    np.testing.assert_allclose(levels, [204, 153, 102, 51], atol=0.51)
