"""Starting TensorFlow for a command: quiet import and device set-up.

Device settings (logical CPU devices, GPU memory growth) can only change
before TensorFlow initialises its devices, so they happen here, first.
"""

from __future__ import annotations

import contextlib
import os
import sys

from aigc_cli.errors import ConfigError

CPU_DEVICES_VARIABLE = "AIGC_CPU_DEVICES"


@contextlib.contextmanager
def _stderr_fd_silenced():
    """Point file descriptor 2 at /dev/null; TensorFlow's native logger writes
    "oneDNN custom operations are on" there before any log level applies."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(quiet: bool = True, initialize: bool = True):
    """Import and initialise TensorFlow (quietly unless ``quiet`` is false).

    ``initialize`` false leaves the runtime unstarted: a MultiWorkerMirroredStrategy
    must be created before anything else runs (collective ops are configured then).
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    if quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_fd_silenced() if quiet else contextlib.nullcontext():
        import keras  # noqa: F401  (its first import logs too)
        import tensorflow

        configure_devices(tensorflow, os.environ.get(CPU_DEVICES_VARIABLE))
        if initialize:
            tensorflow.constant(0)  # device initialisation logs as well
    return tensorflow


def configure_devices(tf, cpu_devices: str | None) -> None:
    """GPU memory on demand (not all at start); optionally split the CPU.

    ``AIGC_CPU_DEVICES=N`` makes N logical CPU devices, so MirroredStrategy
    can be exercised (batch splitting, loss scaling, all-reduce) without GPUs.
    """
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    if cpu_devices is None:
        return
    if not cpu_devices.isdigit() or int(cpu_devices) < 1:
        raise ConfigError(f"{CPU_DEVICES_VARIABLE} must be a whole number >= 1, "
                          f"got '{cpu_devices}'")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(int(cpu_devices))])
