"""aigc denoise on large, messy folders: resuming after an interruption, files whose
name says another format than their content."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from aigc_cli.cli import main
from conftest import make_photo_folder


def test_an_interrupted_folder_resumes_with_skip_existing(tmp_path, runner, monkeypatch):
    import aigc_cli.inference.denoising as denoising

    photos = make_photo_folder(tmp_path / "photos", count=4, size=24)
    out = tmp_path / "out"
    calls, real = [], denoising.TiledDenoiser.__call__

    def interrupted_on_the_third(self, pixels, sigma):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, pixels, sigma)

    monkeypatch.setattr(denoising.TiledDenoiser, "__call__", interrupted_on_the_third)
    stopped = runner.invoke(main, ["denoise", str(photos), "-o", str(out), "--sigma", "20",
                                   "-q"])
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted: wrote 2 images" in stopped.output
    # the settings of the run that stopped, so that the rest is denoised the same way
    assert f"resume with: aigc denoise {photos} -o {out} --sigma 20.0 --skip-existing" \
        in stopped.output
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png"]  # whole files only
    monkeypatch.setattr(denoising.TiledDenoiser, "__call__", real)
    kept = (out / "0.png").stat().st_mtime_ns
    refused = runner.invoke(main, ["denoise", str(photos), "-o", str(out), "-q"])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    resumed = runner.invoke(main, ["denoise", str(photos), "-o", str(out), "--sigma", "20",
                                   "-q", "--skip-existing"])
    assert resumed.exit_code == 0, resumed.output
    assert "wrote 2 images" in resumed.output and "kept 2 already there" in resumed.output
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png", "2.png", "3.png"]
    assert (out / "0.png").stat().st_mtime_ns == kept


def test_a_jpeg_named_png_is_denoised_and_written_back_as_jpeg(tmp_path, runner, aigc_log):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    image.save(photos / "download.png", "JPEG", quality=90)  # a JPEG under a .png name
    result = runner.invoke(main, ["denoise", str(photos), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "out" / "download.png"
    with Image.open(written) as output:
        assert output.format == "JPEG" and output.size == (32, 32)
    assert "holds a JPEG image, not PNG" in aigc_log.text and "written as JPEG" in aigc_log.text


@pytest.mark.slow
def test_sigterm_finishes_the_image_at_hand_and_says_how_to_resume(tmp_path):
    photos = make_photo_folder(tmp_path / "photos", count=40, size=160)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "aigc_cli", "denoise", str(photos), "-o",
                                str(out), "--sigma", "20", "-q"], stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob("*.png"))):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no image was written"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    written = sorted(out.iterdir())
    assert process.returncode == 130, stderr
    assert f"interrupted: wrote {len(written)} images" in stderr and len(written) < 40
    assert all(path.suffix == ".png" for path in written)  # no half-written temporary files
