"""Compute precision: Keras dtype policies for training (``training.precision``) and
for networks built for inference (``--precision``), and what ``auto`` picks here."""

from __future__ import annotations

import contextlib
from pathlib import Path

import keras
import tensorflow as tf

#: ``--precision`` names → Keras dtype policies. bfloat16 computes in bfloat16 with
#: float32 weights (and the denoiser's output layers in float32): measured 3.6x faster
#: on an AMX CPU at -0.005 dB (gray built-in, BSD68 sigma 25).
INFERENCE_PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
#: CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic, the faster unit first.
#: Without them oneDNN emulates bfloat16: a mixed_bfloat16 step of
#: configs/fashion_mnist_gan.yaml took 1.53 s against 0.20 s in float32 on an AVX2-only
#: CPU (7.7x slower). AMX-BF16 ran the gray built-in 3.6x faster than float32;
#: AVX512-BF16 (AMD Zen 4) 1.9x (0.114 s against 0.219 s a BSD68 image).
BFLOAT16_CPU_UNITS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"))
BFLOAT16_CPU_FLAGS = frozenset(flag for flag, _ in BFLOAT16_CPU_UNITS)


def cpu_bfloat16_unit(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's fastest native bfloat16 unit, ``amx_bf16`` or ``avx512_bf16`` (x86
    Linux), or None where it has none or cannot tell."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:  # not Linux: no way to tell, so the safe choice
        return None
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return next((flag for flag, _ in BFLOAT16_CPU_UNITS if flag in flags), None)


def cpu_has_native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU lists AMX-BF16 or AVX512-BF16 (x86 Linux; False where unknown)."""
    return cpu_bfloat16_unit(cpuinfo) is not None


def bfloat16_unit() -> tuple[str | None, str]:
    """Where this machine computes bfloat16 natively — ``gpu`` (compute capability 8.0 or
    newer, Ampere on), ``amx_bf16`` or ``avx512_bf16`` (CPU), None for nowhere — and
    why, in words."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tuple(tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0)))
        why = (f"a GPU of compute capability {'.'.join(str(part) for part in capability)} "
               "(bfloat16 is native from 8.0)")
        return ("gpu" if capability >= (8, 0) else None), why
    unit = cpu_bfloat16_unit()
    if unit is not None:
        return unit, f"this CPU has {dict(BFLOAT16_CPU_UNITS)[unit]}"
    return None, "this CPU has neither AMX-BF16 nor AVX512-BF16 (bfloat16 would be emulated)"


def native_bfloat16() -> tuple[bool, str]:
    """Whether this machine computes bfloat16 natively (see :func:`bfloat16_unit`), and
    why, in words."""
    unit, why = bfloat16_unit()
    return unit is not None, why


def bfloat16_is_fast() -> bool:
    """Whether this machine computes bfloat16 natively (see :func:`native_bfloat16`)."""
    return native_bfloat16()[0]


def training_policy(precision: str) -> str:
    """The Keras dtype policy of ``training.precision``; ``auto`` is mixed_bfloat16 where
    bfloat16 is fast and float32 elsewhere."""
    if precision == "auto":
        return "mixed_bfloat16" if bfloat16_is_fast() else "float32"
    return precision


def resolve_inference_precision(precision: str) -> str:
    """``--precision`` with ``auto`` decided: float32 or bfloat16."""
    if precision == "auto":
        return "bfloat16" if bfloat16_is_fast() else "float32"
    return precision


def inference_policy(precision: str) -> str:
    """The Keras dtype policy of ``--precision`` (float32, bfloat16 or auto)."""
    precision = resolve_inference_precision(precision)
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of "
                         f"{', '.join(INFERENCE_PRECISIONS)}, auto")
    return INFERENCE_PRECISIONS[precision]


@contextlib.contextmanager
def inference_precision(precision: str = "float32"):
    """Networks built inside compute in ``precision``; the global policy is restored after."""
    policy = inference_policy(precision)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
