"""What ``--precision auto`` and ``--ensemble auto`` pick, on faked CPUs, and what
``--verbose`` and ``aigc eval --blind`` say about it."""

import json

import numpy as np
import pytest

from aigc_cli.cli import main
from aigc_cli.inference.defaults import resolve_denoise_settings
from aigc_cli.models import precision

FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma {extra}\n"


@pytest.fixture
def fake_cpu(tmp_path, monkeypatch):
    """Make this machine a CPU with the given extra flags (and no GPU)."""
    real = precision.cpu_bfloat16_unit

    def install(extra: str) -> None:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(FLAGS.format(extra=extra))
        monkeypatch.setattr(precision, "cpu_bfloat16_unit", lambda: real(cpuinfo))
        monkeypatch.setattr(precision.tf.config, "list_physical_devices", lambda kind: [])
    return install


@pytest.mark.parametrize("extra, chosen", [("", ("float32", 1)),
                                           ("avx512f avx512bw", ("float32", 1)),
                                           ("amx_tile amx_bf16", ("bfloat16", 4)),
                                           ("avx512f avx512_bf16 amx_bf16", ("bfloat16", 4)),
                                           # Zen 4: native, but 4 passes fall to 10x BM3D
                                           ("avx512f avx512_bf16", ("bfloat16", 1))])
def test_auto_follows_the_cpu_flags(fake_cpu, extra, chosen):
    fake_cpu(extra)
    settings = resolve_denoise_settings("auto", "auto")
    assert (settings.precision, settings.ensemble) == chosen
    assert ("neither AMX-BF16" in settings.reason) is (chosen[0] == "float32")


def test_what_is_asked_for_is_kept(fake_cpu):
    fake_cpu("amx_bf16")
    settings = resolve_denoise_settings("float32", 2)
    assert (settings.precision, settings.ensemble) == ("float32", 2)
    # an explicit precision still gets the ensemble that suits it
    assert resolve_denoise_settings("float32", "auto").ensemble == 1
    assert resolve_denoise_settings("bfloat16", "auto").ensemble == 4
    fake_cpu("")  # bfloat16 asked for where it is emulated: no ensemble on top
    assert resolve_denoise_settings("bfloat16", "auto").ensemble == 1


@pytest.mark.slow
def test_verbose_denoise_says_what_auto_chose_and_each_sigma(fake_cpu, tiny_denoiser_run,
                                                             tmp_path, runner):
    from conftest import make_photo_folder

    fake_cpu("")
    photos = make_photo_folder(tmp_path / "photos", count=2, size=40)
    result = runner.invoke(main, ["denoise", str(photos), "-o", str(tmp_path / "out"), "-v",
                                  "-q", "--model", str(tiny_denoiser_run)])
    assert result.exit_code == 0, result.output
    assert "precision float32, self-ensemble 1: auto precision, as this CPU has neither" \
        in result.stderr
    assert result.stderr.count("noise sigma") == 2 and "(estimated)" in result.stderr
    quiet = runner.invoke(main, ["denoise", str(photos), "-o", str(tmp_path / "again"), "-q",
                                 "--model", str(tiny_denoiser_run), "--sigma", "10"])
    assert quiet.exit_code == 0 and "noise sigma" not in quiet.stderr  # only when asked


@pytest.mark.slow
def test_noise_that_grows_with_intensity_is_told_as_a_map(tiny_denoiser_run, tmp_path, runner):
    from PIL import Image

    rng = np.random.default_rng(8)
    clean = np.kron(rng.uniform(0.1, 0.9, (12, 12)), np.ones((32, 32)))
    noisy = clean + np.sqrt(0.02 * clean + (5 / 255) ** 2) * rng.standard_normal(clean.shape)
    (tmp_path / "in").mkdir()
    Image.fromarray(np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)).save(
        tmp_path / "in" / "camera.png")
    result = runner.invoke(main, ["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                  "-v", "-q", "--model", str(tiny_denoiser_run)])
    assert result.exit_code == 0, result.output
    assert "noise growing with intensity" in result.stderr and "a map" in result.stderr
    assert Image.open(tmp_path / "out" / "camera.png").size == (384, 384)


@pytest.mark.slow
def test_eval_blind_measures_the_same_noisy_images_untold(tiny_denoiser_run, tmp_path, runner):
    from conftest import make_photo_folder

    clean = make_photo_folder(tmp_path / "clean_test", count=2, size=48)
    result = runner.invoke(main, ["eval", str(tiny_denoiser_run), "--clean", str(clean),
                                  "--sigma", "25", "--blind", "--json", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    blind = report["blind"]
    assert blind["noisy_psnr"] == report["noisy_psnr"]  # the very same noisy images
    assert [row["image"] for row in blind["per_image"]] == ["0.png", "1.png"]
    errors = [row["sigma_error"] for row in blind["per_image"]]
    assert blind["sigma_error_mean"] == pytest.approx(sum(errors) / 2)
    assert abs(blind["sigma_error_mean"]) < 5  # the estimate is near the 25 that was added
    assert report["ensemble"] in (1, 4) and report["compute_precision"] in ("float32", "bfloat16")


def test_zen4_defaults_run_the_slim_gray_builtin_where_it_ships(fake_cpu, tmp_path,
                                                                 monkeypatch):
    import aigc_cli.models.assets as assets

    monkeypatch.setattr(assets, "ASSETS", tmp_path)
    (tmp_path / assets.BUILTIN_DENOISERS["gray-slim"]).write_bytes(b"")
    fake_cpu("avx512f avx512_bf16")
    settings = resolve_denoise_settings("auto", "auto")
    assert settings.builtin("gray") == "gray-slim" and "runs as gray-slim" in settings.reason
    assert settings.builtin("color") == "color" and settings.builtin("runs/x") == "runs/x"
    # An ensemble asked for, or another CPU: the full model.
    assert resolve_denoise_settings("auto", 1).builtin("gray") == "gray"
    fake_cpu("amx_bf16 avx512_bf16")
    assert resolve_denoise_settings("auto", "auto").builtin("gray") == "gray"
    fake_cpu("avx512f avx512_bf16")
    (tmp_path / assets.BUILTIN_DENOISERS["gray-slim"]).unlink()  # not installed: no swap
    assert resolve_denoise_settings("auto", "auto").builtin("gray") == "gray"


@pytest.mark.slow
def test_the_chosen_builtin_is_the_one_that_denoises(fake_cpu, tiny_denoiser_run, tmp_path,
                                                     monkeypatch, runner):
    import aigc_cli.models.assets as assets
    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.io import provenance
    from aigc_cli.models.assets import save_model_asset
    from conftest import make_photo_folder

    trained = load_trained_model(tiny_denoiser_run)
    monkeypatch.setattr(assets, "ASSETS", tmp_path / "assets")
    for name in ("gray", "gray-slim"):
        save_model_asset(trained.model, trained.config.model, trained.config.dataset.image_shape,
                         tmp_path / "assets" / assets.BUILTIN_DENOISERS[name])
    photos = make_photo_folder(tmp_path / "photos", count=1, size=40)
    fake_cpu("avx512f avx512_bf16")
    result = runner.invoke(main, ["denoise", str(photos), "-o", str(tmp_path / "out"), "-q",
                                  "-v"])
    assert result.exit_code == 0, result.output
    assert "the built-in gray runs as gray-slim" in result.stderr
    (written,) = (tmp_path / "out").iterdir()
    edit = provenance.read_provenance(written)["record"]["edits"][0]
    assert edit["model"] == "built-in gray-slim"
    for extra, model in ((["--ensemble", "auto"], "gray-slim"), (["--ensemble", "1"], "gray")):
        result = runner.invoke(main, ["eval", "gray", "--clean", str(photos), "--json", "-q",
                                      *extra])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["model"] == f"built-in {model} denoiser"
