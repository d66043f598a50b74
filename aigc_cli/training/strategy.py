"""The tf.distribute strategy named by ``training.distribute``, and who writes files."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from aigc_cli.errors import ConfigError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default``: one device (the GPU when there is one); ``mirrored``: every local GPU;
    ``multi_worker``: every GPU (or CPU) of the machines ``TF_CONFIG`` lists;
    ``tpu``: the TPU that ``AIGC_TPU`` names (a name, a grpc:// address, or empty for
    the TPU VM the process runs on).

    With no GPU, ``mirrored`` replicates over the logical CPU devices
    (``AIGC_CPU_DEVICES``, see ``aigc_cli.runtime``). Everything the loop builds is
    created inside ``strategy.scope()``, so the same code runs on any of them.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        return _tpu_strategy(os.environ.get("AIGC_TPU", ""))
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy(
        devices=[device.name for device in tf.config.list_logical_devices("CPU")])


def _check_tf_config() -> None:
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ConfigError("training.distribute: multi_worker needs the TF_CONFIG environment "
                          "variable on every worker (cluster addresses and this worker's task); "
                          "see docs/scaling.md", key="training.distribute")
    try:
        spec = json.loads(text)
        spec["cluster"], spec["task"]["type"], spec["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"TF_CONFIG is not valid ({type(error).__name__}: {error}); it must be "
                          'JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                          '"task": {"type": "worker", "index": 0}}',
                          key="training.distribute") from None


def _tpu_strategy(address: str) -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ConfigError(f"training.distribute: tpu: no TPU found (AIGC_TPU={address!r}: "
                          f"{type(error).__name__}: {error}); run on a TPU VM or set AIGC_TPU "
                          "to the TPU's name or grpc:// address", key="training.distribute") \
            from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run dir: always, except on non-chief workers of a
    multi-worker cluster (the chief task, or worker 0 when there is no chief)."""
    resolver = getattr(strategy.extended, "_cluster_resolver", None) or \
        getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
