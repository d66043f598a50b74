"""Starting TensorFlow for a command: a clear message when it is missing, a quiet
import, device set-up, and TensorFlow's C++ log lines kept off the terminal.

Device settings (logical CPU devices, GPU memory growth) can only change
before TensorFlow initialises its devices, so they happen here, first.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import logging
import os
import subprocess
import sys
from pathlib import Path

from aigc_cli.errors import ConfigError, SetupError

CPU_DEVICES_VARIABLE = "AIGC_CPU_DEVICES"
#: The stdlib-only script that forwards native output (run as a process of its own).
FORWARDER = Path(__file__).resolve().parent / "log_forwarder.py"
INSTALL_HINT = ("install it with `pip install \"aigc[cpu]\"` (CPU) or `pip install \"aigc[gpu]\"` "
                "(NVIDIA GPUs); from a clone: `pip install -e \".[cpu]\"`")


def installed_versions() -> dict[str, str | None]:
    """Versions of the installed TensorFlow and Keras (None when absent), read from
    package metadata: nothing is imported."""
    providers = importlib.metadata.packages_distributions()
    versions = {}
    for package in ("tensorflow", "keras"):
        versions[package] = None
        for distribution in providers.get(package, []):
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                versions[package] = importlib.metadata.version(distribution)
                break
    return versions


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
    Raises SetupError naming the pip command when TensorFlow or Keras is missing.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    user_log_level = "TF_CPP_MIN_LOG_LEVEL" in os.environ  # they asked for TF's own logs
    if quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    silenced = _stderr_fd_silenced if quiet else contextlib.nullcontext
    with silenced():
        try:
            import keras  # noqa: F401  (its first import logs too)
            import tensorflow
        except ModuleNotFoundError as error:
            if (error.name or "").partition(".")[0] not in ("tensorflow", "keras"):
                raise
            raise SetupError(f"this command needs TensorFlow, which is not installed here "
                             f"(no module named '{error.name}'); {INSTALL_HINT}") from None
    if quiet:  # after the import: file descriptor 2 is the terminal again
        if not user_log_level:
            NativeLogFilter.install()
        silence_python_loggers()
    with silenced():
        configure_devices(tensorflow, os.environ.get(CPU_DEVICES_VARIABLE))
        if initialize:
            tensorflow.constant(0)  # device initialisation logs as well
    return tensorflow


def silence_python_loggers() -> None:
    """Errors only from the libraries' Python loggers ("WARNING:absl:..." lines: TF's, and
    dp-accounting's RDP orders that do not converge)."""
    for python_logger in ("tensorflow", "absl", "h5py"):
        logging.getLogger(python_logger).setLevel(logging.ERROR)


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


class NativeLogFilter:
    """Keeps TensorFlow's C++ log records (grappler's "remapper failed", oneDNN notices)
    off the terminal in normal runs, while the tool's own output is untouched.

    File descriptor 2 becomes a pipe that only native code writes to: Python's
    ``sys.stderr`` moves to a copy of the terminal. A small child process forwards
    what native code writes, less its log records and their indented continuation
    lines; fatal (F) records and anything else pass. Being a process of its own, it
    outlives an abort (a failed CHECK still shows its F record) and never blocks
    the tool: it ignores Ctrl-C and SIGTERM, drains the pipe until every writer has
    gone, and keeps draining when the terminal cannot be written. ``--debug``, or a
    TF_CPP_MIN_LOG_LEVEL the user set, does not install it.
    """

    _forwarder: subprocess.Popen | None = None

    @classmethod
    def install(cls) -> None:
        # Only a real process stderr (under pytest or click's CliRunner it is replaced), and
        # a Python to run the forwarder with (a frozen build's executable is the tool).
        if cls._forwarder or sys.stderr is None or sys.stderr is not sys.__stderr__ \
                or not sys.executable or getattr(sys, "frozen", False):
            return
        sys.stderr.flush()
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
        try:
            # -I -S: the standard library only, nothing from the current folder or the
            # environment can stand in for it.
            cls._forwarder = subprocess.Popen(
                [sys.executable, "-I", "-S", str(FORWARDER)], stdin=read_end, stdout=terminal,
                stderr=terminal)
        except (OSError, TypeError):  # no second process: leave stderr as it is
            os.close(read_end), os.close(write_end), os.close(terminal)
            return
        os.close(read_end)
        os.dup2(write_end, 2)
        os.close(write_end)
        sys.stderr = open(terminal, "w", buffering=1, encoding=sys.__stderr__.encoding,
                          errors="backslashreplace", closefd=False)
        atexit.register(cls._close, terminal)

    @classmethod
    def _close(cls, terminal: int) -> None:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(terminal, 2)  # closes this process's write end: the forwarder sees EOF
        with contextlib.suppress(subprocess.TimeoutExpired):
            cls._forwarder.wait(timeout=1)  # its last lines before the shell's prompt
