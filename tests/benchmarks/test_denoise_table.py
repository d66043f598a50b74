"""benchmarks/denoise_table.py: BM3D runs once per (set, protocol, sigma) and is cached
across runs; the told and blind columns come from the same report."""

import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "denoise_table.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("denoise_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bm3d_is_measured_once_then_read_from_the_cache(tmp_path, monkeypatch, capsys):
    table = _load_script()
    calls = []

    def fake_evaluate(model, limit=None, options=None):  # aigc eval's report, BM3D when asked
        calls.append((model, options["clean"], options["sigma"], options.get("compare")))
        eight_bit = options.get("eight_bit", False)
        report = {"noisy_psnr": 20.0, "psnr": 30.0 + len(model) + eight_bit, "ssim": 0.9,
                  "seconds_per_image": 0.1, "channels": 1,
                  "blind": {"psnr": 29.5 + len(model)}}
        if options.get("compare") == "bm3d":
            report["bm3d"] = {"psnr": 29.0 + options["sigma"] / 100 - eight_bit,
                              "seconds_per_image": 5.0}
            report["speedup_vs_bm3d"] = 50.0
        return report

    monkeypatch.setattr("aigc_cli.inference.evaluation.evaluate", fake_evaluate)
    cache = tmp_path / "cache.json"
    argv = ["denoise_table.py", "--model", "gray", "--model", "runs/vae", "--sets", "Set12",
            "--sigmas", "15", "25", "--bm3d", "--blind", "--bm3d-cache", str(cache),
            "--data", str(tmp_path), "--out", str(tmp_path / "out.json")]
    argv[1:1] = ["--ensemble", "1"]  # explicit: no CPU swaps the built-in for another
    monkeypatch.setattr(sys, "argv", argv)
    table.main()
    bm3d_calls = [call for call in calls if call[3] == "bm3d"]
    assert [(call[0], call[2]) for call in bm3d_calls] == [("gray", 15), ("gray", 25)]
    assert len(calls) == 4  # each model once per sigma: BM3D rides on the first one's call
    folder = (tmp_path / "Set12").resolve()
    assert set(json.loads(cache.read_text())) == {f"{folder} sigma=15 seed=0 channels=1",
                                                   f"{folder} sigma=25 seed=0 channels=1"}
    first = capsys.readouterr().out
    assert "| Set12 | 25 | 20.00 | 29.25 | 34.00 | 33.50 | 38.00 | 37.50 | BM3D 5.00, gray " \
        "0.10, vae 0.10 | 50.0x |" in first
    assert "| gray told | gray blind | vae told | vae blind |" in first

    calls.clear()
    table.main()  # the cached BM3D figures, no BM3D run, and no speed ratio from another run
    assert len(calls) == 4 and not [call for call in calls if call[3] == "bm3d"]
    assert capsys.readouterr().out.splitlines()[1:] == \
        first.replace("| 50.0x |", "| cached |").splitlines()[1:]

    calls.clear()  # the 8-bit protocol is other noisy images: BM3D measured again
    monkeypatch.setattr(sys, "argv", [*argv, "--protocol", "8-bit"])
    table.main()
    assert len([call for call in calls if call[3] == "bm3d"]) == 2
    assert f"{folder} sigma=25 seed=0 eight_bit=True channels=1" in json.loads(cache.read_text())
    assert "| Set12 | 25 | 20.00 | 28.25 | 35.00 |" in capsys.readouterr().out

    calls.clear()  # another data dir's Set12 is other images: measured, not read back
    monkeypatch.setattr(sys, "argv", [*argv[:-3], str(tmp_path / "other"), *argv[-2:]])
    table.main()
    assert len([call for call in calls if call[3] == "bm3d"]) == 2
