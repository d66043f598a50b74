import json

import keras
import pytest

from aigc_cli.models.precision import (cpu_has_native_bfloat16, inference_policy,
                                       inference_precision, resolve_inference_precision,
                                       training_policy)

FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 {extra}\nbugs\t\t: none\n"


@pytest.mark.parametrize("extra, native", [("", False), ("amx_bf16 amx_tile", True),
                                           ("avx512f avx512_bf16", True),
                                           ("avx512f avx512bw", False)])
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path, extra, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(FLAGS.format(extra=extra))
    assert cpu_has_native_bfloat16(cpuinfo) is native


def test_no_cpuinfo_means_no_native_bfloat16(tmp_path):
    assert cpu_has_native_bfloat16(tmp_path / "absent") is False


def test_auto_follows_the_machine(monkeypatch):
    monkeypatch.setattr("aigc_cli.models.precision.bfloat16_is_fast", lambda: True)
    assert training_policy("auto") == "mixed_bfloat16"
    assert inference_policy("auto") == "mixed_bfloat16"
    assert resolve_inference_precision("auto") == "bfloat16"
    monkeypatch.setattr("aigc_cli.models.precision.bfloat16_is_fast", lambda: False)
    assert training_policy("auto") == "float32" and inference_policy("auto") == "float32"
    assert resolve_inference_precision("auto") == "float32"
    assert training_policy("mixed_float16") == "mixed_float16"  # explicit names stay


def test_inference_precision_restores_the_global_policy():
    with inference_precision("bfloat16"):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError, match="choose one of"):
        inference_policy("float64")


@pytest.mark.parametrize("native", [True, False])
def test_a_run_records_the_precision_auto_chose(idx_folder, tmp_path, monkeypatch, native):
    from aigc_cli.config import build_config
    from aigc_cli.training.loop import build_session
    from aigc_cli.training.rundir import RunDir
    from conftest import tiny_config_dict

    monkeypatch.setattr("aigc_cli.models.precision.bfloat16_is_fast", lambda: native)
    config = build_config(tiny_config_dict(idx_folder, tmp_path / "run", precision="auto"))
    try:
        session = build_session(config, RunDir(tmp_path / "run"), 0)
        computes_in = session.model.generator.layers[1].compute_dtype
    finally:
        keras.mixed_precision.set_global_policy("float32")
    policy = "mixed_bfloat16" if native else "float32"
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["precision"] == policy
    assert computes_in == policy.rpartition("_")[2]
