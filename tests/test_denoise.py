import hashlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from aigc_cli.cli import main
from aigc_cli.errors import InputError
from aigc_cli.inference.denoising import TiledDenoiser, load_denoiser
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.io.photos import encode_photo, read_photo

from conftest import randomize_weights


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}


def untrained_denoiser(channels: int, **settings):
    """A tiny half-resolution denoiser for ``channels``, built from its config."""
    from aigc_cli.config import build_config
    from aigc_cli.models import MODEL_FAMILIES

    from conftest import TINY_DENOISER

    config = build_config({"model": {**TINY_DENOISER, **settings}, "dataset": {
        "type": "folder", "path": "unused", "channels": channels, "patch_size": 16,
        "noise": {"sigma": 25}}})
    return MODEL_FAMILIES.get("denoiser")(config.model, config.optimizer,
                                          config.dataset.image_shape, 0)


@pytest.mark.parametrize("channels", [1, 3])
def test_tiles_give_the_whole_image_result(channels):
    model = untrained_denoiser(channels)
    randomize_weights(model.denoiser)  # a network far from the identity, so seams would show
    image = np.random.default_rng(0).uniform(0, 1, (101, 90, channels)).astype(np.float32)
    whole = TiledDenoiser(model, tile=4096)(image, 0.1)
    tiler = TiledDenoiser(model, tile=32)
    tiled = tiler(image, 0.1)
    assert tiler._run.experimental_get_tracing_count() == 1  # one graph for all tile shapes
    assert whole.shape == image.shape
    assert np.abs(whole - image).mean() > 0.02
    nudged = image.copy()
    nudged[50, 45] += 0.5  # the output depends on the input, so seams would show
    assert np.abs(TiledDenoiser(model, tile=4096)(nudged, 0.1) - whole).max() > 1e-2
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize("ensemble", [1, 2])
def test_a_noise_map_is_read_where_it_lies(ensemble):
    model = untrained_denoiser(1, batch_norm=False, width=8)
    randomize_weights(model.denoiser)
    image = np.random.default_rng(3).uniform(0, 1, (70, 45, 1)).astype(np.float32)
    flat = np.full((70, 45, 1), 0.1, np.float32)
    whole, tiled = TiledDenoiser(model, 4096, ensemble), TiledDenoiser(model, 32, ensemble)
    # a constant map is the scalar sigma, tiled or not, single pass or ensemble
    np.testing.assert_allclose(tiled(image, flat), whole(image, 0.1), atol=1e-5)
    varying = flat.copy()
    varying[:, 30:] = 0.3  # more noise on the right
    result = tiled(image, varying)
    np.testing.assert_allclose(result, whole(image, varying), atol=1e-5)  # no seams
    left, right = whole(image, 0.1), whole(image, 0.3)
    margin = model.radius + 2  # pixels beyond the network's reach of the map's edge
    np.testing.assert_allclose(result[:, :30 - margin], left[:, :30 - margin], atol=1e-5)
    np.testing.assert_allclose(result[:, 30 + margin:], right[:, 30 + margin:], atol=1e-5)
    assert np.abs(left - right).max() > 1e-2  # the map matters, so the checks above bite


@pytest.mark.slow
@pytest.mark.parametrize("tile", [32, 4096])  # tiled, in Python; one tile, in one graph
def test_eightfold_self_ensemble_commutes_with_rotations_and_flips(tiny_denoiser_run, tile):
    model = load_trained_model(tiny_denoiser_run).model
    randomize_weights(model.denoiser)
    image = np.random.default_rng(1).uniform(0, 1, (70, 45, 1)).astype(np.float32)
    single, ensemble = TiledDenoiser(model, tile=32), TiledDenoiser(model, tile=tile, ensemble=8)
    for turn in (lambda x: np.rot90(x, 1), lambda x: x[:, ::-1]):
        np.testing.assert_allclose(ensemble(np.ascontiguousarray(turn(image)), 0.1),
                                   turn(ensemble(image, 0.1)), atol=1e-5)
    # a single pass is not symmetric, so the check above is not vacuous
    assert np.abs(single(np.rot90(image).copy(), 0.1) - np.rot90(single(image, 0.1))).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("size", [4, 8])
def test_the_one_graph_self_ensemble_is_the_tiled_one(tiny_denoiser_run, size):
    model = load_trained_model(tiny_denoiser_run).model
    randomize_weights(model.denoiser)
    image = np.random.default_rng(2).uniform(0, 1, (71, 46, 1)).astype(np.float32)
    in_graph = TiledDenoiser(model, tile=4096, ensemble=size)
    tiled = TiledDenoiser(model, tile=32, ensemble=size)
    np.testing.assert_allclose(in_graph(image, 0.1), tiled(image, 0.1), atol=1e-5)
    assert in_graph._run_ensemble.experimental_get_tracing_count() == 1
    assert in_graph._run.experimental_get_tracing_count() == 0  # the Python loop did not run


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("RGB", ".png"), ("RGBA", ".png"),
                                          ("LA", ".png"), ("RGB", ".jpg"), ("P", ".png"),
                                          ("RGBA", ".webp"), ("L", ".tif")])
def test_photo_round_trip_keeps_pixels_and_alpha(tmp_path, mode, suffix):
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (4, 3, 4), dtype=np.uint8)  # 8x8 flat blocks: JPEG-friendly
    image = Image.fromarray(np.kron(blocks, np.ones((8, 8, 1), np.uint8)), "RGBA")
    image = image.convert("RGB").convert("P") if mode == "P" else image.convert(mode)
    path = tmp_path / f"x{suffix}"
    image.save(path)
    photo = read_photo(path)
    assert photo.pixels.dtype == np.float32 and photo.bits == 8
    assert photo.pixels.shape[-1] == (1 if mode in ("L", "LA") else 3)
    assert (photo.alpha is not None) == (mode in ("RGBA", "LA"))
    (tmp_path / f"y{suffix}").write_bytes(encode_photo(photo.pixels, photo))
    again = read_photo(tmp_path / f"y{suffix}")
    if suffix == ".jpg":  # lossy: close on average
        assert np.mean(np.abs(again.pixels - photo.pixels)) < 0.02
    else:
        np.testing.assert_array_equal(again.pixels, photo.pixels)
    if photo.alpha is not None:
        np.testing.assert_array_equal(again.alpha, photo.alpha)


def test_sixteen_bit_png_keeps_sixteen_bits(tmp_path):
    values = np.arange(0, 65536, 257 * 3 + 1, dtype=np.uint16)[:64].reshape(8, 8)
    Image.fromarray(values).save(tmp_path / "deep.png")  # uint16: a 16-bit gray PNG
    photo = read_photo(tmp_path / "deep.png")
    assert photo.bits == 16
    np.testing.assert_array_equal(np.rint(photo.pixels[..., 0] * 65535), values)
    (tmp_path / "out.png").write_bytes(encode_photo(photo.pixels, photo))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), values)


def test_sixteen_bit_rgb_png_keeps_sixteen_bits(tmp_path):
    import tensorflow as tf

    values = (np.arange(8 * 8 * 3, dtype=np.uint16) * 811).reshape(8, 8, 3)  # Pillow cannot
    (tmp_path / "deep.png").write_bytes(tf.io.encode_png(values).numpy())  # write RGB 16-bit
    photo = read_photo(tmp_path / "deep.png")
    assert photo.bits == 16 and photo.pixels.shape == (8, 8, 3)
    (tmp_path / "out.png").write_bytes(encode_photo(photo.pixels, photo))
    again = tf.io.decode_png((tmp_path / "out.png").read_bytes(), dtype=tf.uint16).numpy()
    np.testing.assert_array_equal(again, values)


def test_sixteen_bit_tiff_goes_back_as_sixteen_bits(tmp_path):
    values = np.arange(0, 65536, 1021, dtype=np.uint16)[:64].reshape(8, 8)
    Image.fromarray(values).save(tmp_path / "deep.tif")
    photo = read_photo(tmp_path / "deep.tif")
    assert photo.bits == 16
    (tmp_path / "out.tif").write_bytes(encode_photo(photo.pixels, photo))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.tif")), values)


def _tagged_image(orientation: int = 6):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Camera maker", orientation  # Make; Orientation
    pixels = np.arange(8 * 16 * 3, dtype=np.uint8).reshape(8, 16, 3)  # every pixel differs
    return Image.fromarray(pixels), profile, exif


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_colour_profile_and_camera_data_are_kept_orientation_applied(tmp_path, suffix):
    image, profile, exif = _tagged_image()
    image.save(tmp_path / f"x{suffix}", icc_profile=profile, exif=exif)
    photo = read_photo(tmp_path / f"x{suffix}")
    assert photo.pixels.shape[:2] == (16, 8) and photo.format in ("PNG", "JPEG", "WEBP")
    (tmp_path / f"y{suffix}").write_bytes(encode_photo(photo.pixels, photo))
    with Image.open(tmp_path / f"y{suffix}") as written:
        written.load()
        assert written.info.get("icc_profile") == profile
        assert written.getexif().get(0x010F) == "Camera maker"
        assert 0x0112 not in written.getexif()  # applied, so not applied twice


@pytest.mark.parametrize("orientation", range(1, 9))
def test_png_orientation_is_applied_as_pillow_applies_it(tmp_path, orientation):
    image, _, exif = _tagged_image(orientation)
    image.save(tmp_path / "x.png", exif=exif)  # PNG pixels come through TF's decoder
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "x.png")))
    np.testing.assert_array_equal(np.rint(read_photo(tmp_path / "x.png").pixels * 255), expected)


def test_camera_jpegs_stay_jpegs_and_a_cmyk_profile_is_not_kept_on_rgb(tmp_path):
    image, profile, exif = _tagged_image()
    image.save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[image],
               exif=exif)  # a multi-picture JPEG, as many cameras write
    assert Image.open(tmp_path / "camera.jpg").format == "MPO"
    photo = read_photo(tmp_path / "camera.jpg")
    assert photo.format == "JPEG" and photo.exif
    cmyk = profile[:16] + b"CMYK" + profile[20:]
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "CMYK").save(tmp_path / "print.jpg",
                                                                icc_profile=cmyk)
    assert read_photo(tmp_path / "print.jpg").icc_profile is None  # pixels became RGB


def test_denoise_refuses_to_write_over_an_input_even_with_overwrite(tiny_denoiser_run, tmp_path,
                                                                     runner):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((20, 20), 128, np.uint8)).save(photos / "a.png")
    before = digest(photos)
    (tmp_path / "notes.png").write_bytes(b"not a folder")
    for output, message in ((photos, "would write over the input"),
                            (photos / "a.png", "is the input"),
                            (tmp_path / "notes.png", "is a file")):
        result = runner.invoke(main, ["denoise", str(photos / "a.png"), "-o", str(output),
                                      "--overwrite", "--model", str(tiny_denoiser_run), "-q"])
        assert result.exit_code == 2 and message in result.output, result.output
    assert digest(photos) == before


def test_denoise_folder_keeps_layout_skips_corrupt_files_and_leaves_inputs(
        tiny_denoiser_run, tmp_path, runner):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50), dtype=np.uint8)).save(photos / "a.png")
    Image.fromarray(rng.integers(0, 256, (33, 31, 3), dtype=np.uint8)).save(
        photos / "sub" / "b.jpg")
    rgba = rng.integers(0, 256, (24, 26, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(photos / "sub" / "c.png")
    Image.fromarray(rng.integers(0, 65536, (22, 20), dtype=np.uint16)).save(photos / "d16.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    before = digest(photos)
    result = runner.invoke(main, ["denoise", str(photos), "--model", str(tiny_denoiser_run),
                                  "--sigma", "25", "-q"])
    assert result.exit_code == 2, result.output
    assert "1 of 5 files could not be denoised" in result.output and "broken.png" in result.output
    out = tmp_path / "photos_denoised"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["a.png", "d16.png", "sub/b.jpg", "sub/c.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "sub" / "c.png"))[..., 3],
                                  rgba[..., 3])  # alpha passed through
    assert read_photo(out / "d16.png").bits == 16
    assert Image.open(out / "sub" / "b.jpg").size == (31, 33)
    assert Image.open(out / "sub" / "b.jpg").format == "JPEG"
    assert digest(photos) == before
    again = runner.invoke(main, ["denoise", str(photos), "--model", str(tiny_denoiser_run)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    inside = runner.invoke(main, ["denoise", str(photos), "-o", str(photos / "x"),
                                  "--model", str(tiny_denoiser_run)])
    assert inside.exit_code == 2 and "inside the input" in inside.output


def test_a_single_file_goes_to_a_sibling_folder_and_an_unwritable_one_is_skipped(
        tiny_denoiser_run, tmp_path, runner, monkeypatch):
    import aigc_cli.inference.denoising as denoise_module

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(photos / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(photos / "b.bmp")
    result = runner.invoke(main, ["denoise", str(photos / "a.png"), "--model",
                                  str(tiny_denoiser_run), "--sigma", "10"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (photos / "a_denoised").iterdir()] == ["a.png"]
    assert "denoise" in result.stderr and ("img/s" in result.stderr or "s/img" in result.stderr)
    (photos / "a_denoised" / "a.png").unlink()
    (photos / "a_denoised").rmdir()

    real_encode = denoise_module.encode_photo

    def encode(pixels, like):  # what Pillow says of a mode its format cannot store
        if like.format == "BMP":
            raise OSError("cannot write mode I;16 as BMP")
        return real_encode(pixels, like)

    monkeypatch.setattr(denoise_module, "encode_photo", encode)
    both = runner.invoke(main, ["denoise", str(photos), "-o", str(tmp_path / "out"), "--model",
                                str(tiny_denoiser_run), "--sigma", "10", "-q"])
    assert both.exit_code == 2 and "b.bmp: cannot write it back as BMP" in both.output
    assert "1 of 2 files could not be denoised" in both.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]  # the other one is written


def test_a_one_off_first_call_cost_is_not_charged_per_image():
    import time

    from aigc_cli.metrics.denoising import NoiseProtocol, measure

    calls = []

    def denoise(noisy, sigma):  # like a tf.function: the first call traces (slow)
        calls.append(sigma)
        if len(calls) == 1:
            time.sleep(0.5)
        return noisy

    images = [np.full((16, 16, 1), 0.5, np.float32)] * 3
    result = measure(denoise, images, NoiseProtocol(25), seed=0, warm_up=True)
    assert len(calls) == 4 and result["seconds_per_image"] < 0.05
    calls.clear()
    assert measure(denoise, images, NoiseProtocol(25), seed=0)["seconds_per_image"] > 0.15


def test_psnr_and_ssim_by_hand():
    from aigc_cli.metrics.denoising import psnr, ssim

    clean = np.full((32, 32, 1), 0.5)
    assert psnr(clean + 0.1, clean) == pytest.approx(20.0)
    assert ssim(clean, clean) == pytest.approx(1.0)


@pytest.mark.slow
def test_eval_denoiser_on_clean_folder_is_reproducible(tiny_denoiser_run, tmp_path, runner):
    import json

    from conftest import make_photo_folder

    clean = make_photo_folder(tmp_path / "clean_test", count=3, size=48)
    (clean / "broken.png").write_bytes(b"not an image")  # skipped with a warning, not fatal
    args = ["eval", str(tiny_denoiser_run), "--clean", str(clean), "--sigma", "25", "--json"]
    first, second = runner.invoke(main, args), runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["images"] == 3 and report["sigma"] == 25.0 and len(report["per_image"]) == 3
    # sigma 25 on [0, 1] images: noisy PSNR = -10 log10((25/255)^2) = 20.17 dB
    assert report["noisy_psnr"] == pytest.approx(20.17, abs=0.3)
    assert json.loads(second.stdout)["psnr"] == report["psnr"]
    assert "img/s" in first.stderr or "s/img" in first.stderr  # the progress bar
    quiet = runner.invoke(main, args + ["-q"])
    assert quiet.exit_code == 0 and "img" not in quiet.stderr
    missing = runner.invoke(main, ["eval", str(tiny_denoiser_run)])
    assert missing.exit_code == 2 and "--clean" in missing.output


def test_colour_images_use_the_gray_builtin_until_a_colour_one_ships(
        tiny_denoiser_run, tmp_path, monkeypatch, aigc_log):
    import aigc_cli.inference.denoising as denoise_module
    import aigc_cli.models.assets as assets_module
    from aigc_cli.models.assets import save_model_asset

    trained = load_trained_model(tiny_denoiser_run)
    monkeypatch.setattr(assets_module, "ASSETS", tmp_path)
    with pytest.raises(InputError, match="built-in 'color' denoiser is not in this installation"):
        denoise_module.load_denoiser(None, 3)  # neither model shipped: a clear error
    save_model_asset(trained.model, trained.config.model, trained.config.dataset.image_shape,
                     tmp_path / "denoiser_gray.npz")
    model = denoise_module.load_denoiser(None, 3).model
    assert model.denoiser.input_shape[0][-1] == 1
    assert "channel by channel" in aigc_log.text
    with pytest.raises(InputError, match="not in this installation"):
        denoise_module.load_denoiser("color", 3)  # asked for by name: no substitute


def test_a_missing_builtin_is_named_with_the_option_that_asked_for_it(
        tmp_path, monkeypatch, runner):
    import aigc_cli.models.assets as assets_module
    from aigc_cli.errors import CheckpointError
    from aigc_cli.training.warm_start import initialize_from

    monkeypatch.setattr(assets_module, "ASSETS", tmp_path / "no_assets")
    with pytest.raises(CheckpointError, match=r"^training.init_from: the built-in 'gray'"):
        initialize_from(None, "gray")
    clean = tmp_path / "clean"
    clean.mkdir()
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(clean / "flat.png")
    for command, asker in ((["eval", "color", "--clean", str(clean)], "aigc eval"),
                           (["denoise", str(clean), "--model", "gray"], "--model")):
        result = runner.invoke(main, command)
        assert result.exit_code == 2, result.output
        assert f"{asker}: the built-in" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "clean_denoised").exists()


def piecewise_smooth_scene(channels: int) -> np.ndarray:
    """A 128x128 test scene in [0, 1]: a warm gradient with discs of flat, muted
    colour (natural-photo-like colours; the colour model is not tuned to others)."""
    y, x = np.mgrid[0:128, 0:128]
    scene = (0.25 + 0.45 * (x + y)[..., None] / 254.0) * np.array([1.0, 0.9, 0.8])
    for (cy, cx, radius), colour in zip([(40, 40, 25), (90, 80, 30), (30, 100, 15)],
                                        [(0.7, 0.5, 0.4), (0.3, 0.4, 0.55), (0.8, 0.8, 0.65)]):
        scene[(y - cy) ** 2 + (x - cx) ** 2 < radius ** 2] = colour
    return scene.mean(axis=-1, keepdims=True) if channels == 1 else scene


@pytest.mark.parametrize("mode, precision", [("L", "float32"), ("RGB", "float32"),
                                             ("L", "bfloat16")])
def test_builtin_model_for_the_image_mode_removes_noise(tmp_path, runner, aigc_log, mode,
                                                        precision):
    from aigc_cli.metrics.denoising import NoiseProtocol, psnr

    clean = piecewise_smooth_scene(1 if mode == "L" else 3)
    noisy = np.clip(NoiseProtocol(25).noisy(clean, seed=0, index=0), 0, 1)
    array = np.rint(noisy * 255).astype(np.uint8)
    Image.fromarray(array[..., 0] if mode == "L" else array, mode).save(tmp_path / "scene.png")
    result = runner.invoke(main, ["denoise", str(tmp_path / "scene.png"), "-o",
                                  str(tmp_path / "out"), "--precision", precision])
    # (no --model, no --sigma)
    assert result.exit_code == 0, result.output
    assert "channel by channel" not in aigc_log.text  # the colour model, not the fallback
    denoised = read_photo(tmp_path / "out" / "scene.png").pixels
    assert psnr(noisy, clean) < 21 and psnr(denoised, clean) > 30


def test_bfloat16_inference_computes_in_bfloat16_and_stays_close():
    import keras

    image = piecewise_smooth_scene(1)
    full = load_denoiser("gray", 1).model
    half = load_denoiser("gray", 1, precision="bfloat16").model
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after loading

    def conv_dtypes(model):
        return [layer.compute_dtype for layer in model.denoiser.layers
                if isinstance(layer, keras.layers.Conv2D)]

    assert set(conv_dtypes(full)) == {"float32"}
    assert conv_dtypes(half)[:-1] == ["bfloat16"] * (len(conv_dtypes(half)) - 1)
    assert conv_dtypes(half)[-1] == "float32"  # the noise estimate keeps full precision
    difference = np.abs(TiledDenoiser(half)(image, 0.1) - TiledDenoiser(full)(image, 0.1))
    assert 0 < difference.max() < 4 / 255 and difference.mean() < 1 / 255


@pytest.mark.slow
def test_compare_bm3d_reports_both_or_says_how_to_install_it(tiny_denoiser_run, tmp_path, runner,
                                                             monkeypatch):
    import json
    import sys

    from conftest import make_photo_folder

    clean = make_photo_folder(tmp_path / "clean_test", count=2, size=48)
    args = ["eval", str(tiny_denoiser_run), "--clean", str(clean), "--sigma", "25",
            "--compare", "bm3d", "--json", "-q"]
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "bm3d", None)  # as if the extra were not installed
        missing = runner.invoke(main, args)
    assert missing.exit_code == 2 and "pip install 'aigc[bm3d]'" in missing.output
    assert isinstance(missing.exception, SystemExit)  # a user error, not a crash
    pytest.importorskip("bm3d")
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["bm3d"]
    assert [row["image"] for row in report["per_image"]] == ["0.png", "1.png"]
    assert report["psnr"] > report["noisy_psnr"] + 3  # BM3D does denoise the same noisy images
    assert report["noisy_psnr"] == json.loads(result.stdout)["noisy_psnr"]


def test_eval_limit_takes_the_first_readable_images_and_times_bm3d_beside_them(
        tiny_denoiser_run, tmp_path, runner, monkeypatch):
    import json
    import shutil
    import sys
    import time
    import types

    from conftest import make_photo_folder

    clean = make_photo_folder(tmp_path / "clean_test", count=3, size=48)
    with_broken = tmp_path / "with_broken"
    shutil.copytree(clean, with_broken)
    (with_broken / "1.png").write_bytes(b"not a png")
    calls = []

    def slow_identity(noisy, sigma):  # a stand-in BM3D whose time is known to be >= 50 ms
        calls.append(noisy.shape)
        time.sleep(0.05)
        return noisy

    monkeypatch.setitem(sys.modules, "bm3d", types.SimpleNamespace(bm3d=slow_identity,
                                                                   bm3d_rgb=slow_identity))

    def evaluate(folder, limit, *extra):
        result = runner.invoke(main, ["eval", str(tiny_denoiser_run), "--clean", str(folder),
                                      "--limit", str(limit), "--json", "-q", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    report = evaluate(with_broken, 2, "--compare", "bm3d")
    assert report["images"] == 2 and len(calls) == 2
    assert [row["image"] for row in report["per_image"]] == ["0.png", "2.png"]
    assert [row["image"] for row in report["bm3d"]["per_image"]] == ["0.png", "2.png"]
    assert report["bm3d"]["seconds_per_image"] >= 0.05
    assert report["speedup_vs_bm3d"] == pytest.approx(
        report["bm3d"]["seconds_per_image"] / report["seconds_per_image"])
    # noise is indexed by the place in the folder: the broken 1.png leaves 2.png's as it
    # is in the intact folder
    intact = {row["image"]: row["noisy_psnr"]
              for row in evaluate(clean, 3)["per_image"]}
    assert [row["noisy_psnr"] for row in report["per_image"]] == [intact["0.png"],
                                                                 intact["2.png"]]


@pytest.mark.slow
def test_a_bad_model_is_reported_before_any_image_is_read(tiny_vae_run, tmp_path, runner):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.png").write_bytes(b"not a png")  # no image would ever load a model
    for model, message in (("nosuch", "neither a run dir, a checkpoint nor a built-in model "
                                      "(gray, color, gray-slim)"),
                           (str(tiny_vae_run), "holds a vae model, not a denoiser")):
        result = runner.invoke(main, ["denoise", str(photos), "--model", model, "-q"])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "photos_denoised").exists()
    result = runner.invoke(main, ["eval", "nosuch", "--clean", str(photos)])
    assert result.exit_code == 2
    assert "nor a built-in model (gray, color, gray-slim)" in result.output


@pytest.mark.slow
def test_a_sigma_above_the_models_training_range_is_warned_about(tiny_denoiser_run, tmp_path, runner,
                                                         aigc_log):
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(tmp_path / "flat.png")

    def warned(*options):
        aigc_log.clear()
        result = runner.invoke(main, ["denoise", str(tmp_path / "flat.png"), "-o",
                                      str(tmp_path / "out"), "--overwrite", "-q", *options])
        assert result.exit_code == 0, result.output
        return "was trained on: expect leftover noise" in aigc_log.text

    assert warned("--sigma", "80") and "--sigma 80 is above the 55" in aigc_log.text
    assert warned("--sigma", "80", "--model", "gray")
    assert not warned("--sigma", "55")
    run = str(tiny_denoiser_run)  # trained on sigma [0, 55]: its config says so
    assert warned("--sigma", "56", "--model", run) and f"that {run} was" in aigc_log.text
    assert not warned("--sigma", "55", "--model", run)
