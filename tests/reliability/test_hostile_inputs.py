"""Hostile images in a training folder or a denoise input: skipped or handled, counted,
never a crash; hostile checkpoints: a clear error, nothing executed."""

import hashlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from aigc_cli.cli import main
from aigc_cli.data.sources import load_folder

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow

READABLE = {"cmyk.jpg", "palette.png", "deep16.png", "animated.gif"}
BROKEN = {"truncated.png", "empty.png", "text.jpg", "bomb.png"}


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header that claims width x height pixels (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # a few rows; the rest never stored
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + \
        chunk(b"IEND", b"")


@pytest.fixture
def hostile_folder(tmp_path):
    folder = tmp_path / "hostile"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = 0
    palette.save(folder / "palette.png", transparency=0)
    Image.fromarray(np.full((40, 40), 32896, np.uint16)).save(folder / "deep16.png")
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    good = (folder / "cmyk.jpg").read_bytes()
    Image.fromarray(rgb).save(folder / "whole.png")
    whole = (folder / "whole.png").read_bytes()
    (folder / "whole.png").unlink()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    (folder / "bomb.png").write_bytes(_bomb_png(40000, 40000))
    assert good and sorted(p.name for p in folder.iterdir()) == sorted(READABLE | BROKEN)
    return folder


def test_training_folder_keeps_the_readable_and_counts_the_rest(hostile_folder, aigc_log):
    images = load_folder(hostile_folder, 28, 1)
    assert images.images.shape == (len(READABLE), 28, 28, 1)
    assert f"skipped {len(BROKEN)} of {len(READABLE | BROKEN)} files" in aigc_log.text
    deep = sorted(p.name for p in hostile_folder.iterdir() if p.name in READABLE).index(
        "deep16.png")
    assert abs(int(images.images[deep].mean()) - 128) <= 1  # 16-bit scaled, not clipped to 255


def test_denoise_handles_each_hostile_file_and_leaves_inputs_alone(
        hostile_folder, tiny_denoiser_run, tmp_path, runner):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in hostile_folder.iterdir()}
    out = tmp_path / "out"
    result = runner.invoke(main, ["denoise", str(hostile_folder), "-o", str(out), "--model",
                                  str(tiny_denoiser_run), "--sigma", "10", "-q"])
    assert result.exit_code == 2, result.output  # some inputs failed, and it says so
    assert sorted(p.name for p in out.iterdir()) == sorted(READABLE)
    assert "bomb.png" in result.output and "over the limit" in result.output
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in hostile_folder.iterdir()}
    assert after == before
    with Image.open(out / "deep16.png") as deep:
        assert deep.mode.startswith("I;16")  # 16-bit in, 16-bit out


@pytest.mark.parametrize("damage", ["truncate_index", "garbage_data", "foreign"])
def test_damaged_or_foreign_checkpoints_are_a_clear_input_error(
        tiny_denoiser_run, tiny_vae_run, tmp_path, runner, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_denoiser_run, run)
    _damage(run / "checkpoints", damage, foreign=tiny_vae_run / "checkpoints")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(photos / "a.png")
    for args in (["denoise", str(photos), "-o", str(tmp_path / "o"), "--model", str(run),
                  "--sigma", "10"],
                 ["eval", str(run), "--clean", str(photos), "--sigma", "10"],
                 ["export", str(run), "--out", str(tmp_path / "e")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and str(run) in result.output


@pytest.mark.parametrize("damage", ["truncate_index", "garbage_data", "foreign"])
def test_sample_on_a_damaged_or_foreign_checkpoint_is_a_clear_input_error(
        tiny_config, tiny_vae_run, tmp_path, runner, damage):
    from aigc_cli.training.loop import train

    run = train(tiny_config(steps=2), quiet=True).run_dir
    _damage(run / "checkpoints", damage, foreign=tiny_vae_run / "checkpoints")
    result = runner.invoke(main, ["sample", str(run), "-n", "2", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and str(run) in result.output


def _damage(checkpoints, damage: str, foreign) -> None:
    """Truncate the index, overwrite the data with random bytes, or put another model's
    checkpoints (``foreign``) in place."""
    import shutil

    if damage == "truncate_index":
        index = next(checkpoints.glob("ckpt-*.index"))
        index.write_bytes(index.read_bytes()[:20])
    elif damage == "garbage_data":
        data = next(checkpoints.glob("ckpt-*.data-*"))
        data.write_bytes(np.random.default_rng(0).bytes(data.stat().st_size))
    else:
        shutil.rmtree(checkpoints)
        shutil.copytree(foreign, checkpoints)
