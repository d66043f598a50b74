"""Trained models shipped inside the package, as pickle-free ``.npz`` files.

An asset holds the family's model config (JSON) and the weight arrays of its
inference networks. Loading rebuilds the networks from the config through the
registry and sets the arrays: ``np.load(allow_pickle=False)`` cannot run code.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from aigc_cli.config import MODEL_CONFIGS, OptimizerConfig
from aigc_cli.config.schema import parse, to_dict
from aigc_cli.errors import CheckpointError, ConfigError
from aigc_cli.io.files import atomic_path
from aigc_cli.models import MODEL_FAMILIES
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.precision import inference_precision

ASSETS = Path(__file__).resolve().parent.parent / "assets"

#: Denoisers shipped in the package, by the names ``--model`` and ``init_from`` accept.
#: gray-slim is the gray one slimmed to 80 channels (0.69x the multiply-adds), for CPUs
#: where the full one runs under 20x BM3D's speed (``inference.defaults``).
BUILTIN_DENOISERS = {"gray": "denoiser_gray.npz", "color": "denoiser_color.npz",
                     "gray-slim": "denoiser_gray_slim.npz"}
#: The highest noise level (0-255 units) the built-in denoisers were trained on (from 0).
BUILTIN_MAX_SIGMA = 55.0
#: For errors where a built-in name is accepted beside a run dir or checkpoint.
BUILTIN_NAMES = f"a built-in model ({', '.join(BUILTIN_DENOISERS)})"


def has_builtin_denoiser(name: str) -> bool:
    """Whether this installation ships the built-in denoiser ``name``."""
    return (ASSETS / BUILTIN_DENOISERS[name]).is_file()


def builtin_denoiser_path(name: str, wanted_by: str) -> Path:
    """The file of the built-in denoiser ``name``; an error naming ``wanted_by`` (the
    option or key that asked for it) when this installation does not ship it."""
    path = ASSETS / BUILTIN_DENOISERS[name]
    if not has_builtin_denoiser(name):
        raise CheckpointError(f"{wanted_by}: the built-in '{name}' denoiser is not in this "
                              f"installation ({path}); pass the run dir of a trained denoiser")
    return path


def save_model_asset(model: GenerativeModel, model_config, image_shape, path: Path,
                     storage: str = "float32") -> None:
    """Write ``model``'s inference networks and config to ``path``; ``storage``
    float16 halves the file (weights rounded to 11 significant bits, loaded back
    as float32)."""
    if storage not in ("float32", "float16"):
        raise ValueError(f"asset storage {storage!r}: float32 or float16")
    arrays = {f"{name}/{i:03d}": weight.astype(storage)
              for name, network in model.inference_items().items()
              for i, weight in enumerate(network.get_weights())}
    if not all(np.isfinite(array).all() for array in arrays.values()):
        raise ValueError(f"weights overflow {storage}: store them as float32")
    meta = json.dumps({"model": to_dict(model_config), "image_shape": list(image_shape)})
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            np.savez_compressed(stream, meta=np.array(meta), **arrays)


def load_model_asset(path: Path, precision: str = "float32") -> GenerativeModel:
    """Rebuild the model stored by ``save_model_asset``, computing in ``precision``."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            arrays = {key: stored[key] for key in stored.files if key != "meta"}
        family = meta["model"]["type"]
        if family not in MODEL_CONFIGS:
            raise ValueError(f"unknown model type {family!r}")
        model_config = parse(MODEL_CONFIGS[family], meta["model"], "model")
        optimizers = {name: OptimizerConfig() for name in MODEL_CONFIGS[family].optimizers}
        with inference_precision(precision):
            model = MODEL_FAMILIES.get(family)(model_config, optimizers,
                                               tuple(meta["image_shape"]), 0)
        for name, network in model.inference_items().items():
            keys = sorted(k for k in arrays if k.startswith(f"{name}/"))
            network.set_weights([arrays[k].astype(np.float32)
                                 if np.issubdtype(arrays[k].dtype, np.floating) else arrays[k]
                                 for k in keys])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, ConfigError) as error:
        raise CheckpointError(f"{path} is not a valid aigc model asset: {error}") from None
    return model
