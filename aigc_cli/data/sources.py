"""Where training images come from: IDX archives, CIFAR-10 batches or a folder of images.

Everything here returns uint8 arrays [N, H, W, C] already at the model's size,
so the tf.data pipeline only shuffles, batches and scales. No TensorFlow.
"""

from __future__ import annotations

import hashlib

import gzip
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aigc_cli.config import DatasetConfig
from aigc_cli.data.cifar import DOWNLOAD as CIFAR_DOWNLOAD
from aigc_cli.data.cifar import read_cifar10
from aigc_cli.errors import DataError
from aigc_cli.io.images import IMAGE_FORMATS, IMAGE_SUFFIXES, fit_square, read_image, to_array
from aigc_cli.runtime import import_tensorflow

log = logging.getLogger("aigc")

DEBIAN_DATASETS = Path("/usr/share/datasets")
IDX_FOLDER_NAMES = {"fashion_mnist": ("fashion-mnist", "fashion_mnist"), "mnist": ("mnist",)}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class ImageSet:
    """Decoded images [N, H, W, C] uint8 (or a list of [H, W, C] arrays of different
    sizes, for patch training), optional labels [N], and their origin."""

    images: np.ndarray | list
    labels: np.ndarray | None
    origin: str

    def fingerprint(self) -> str:
        """SHA-256 of the decoded pixels (shapes included) and labels: the same data
        gives the same fingerprint whatever the files are called or compressed as."""
        digest = hashlib.sha256()
        arrays = self.images if isinstance(self.images, list) else [self.images]
        for array in [*arrays, *([] if self.labels is None else [self.labels])]:
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def load_images(config: DatasetConfig, split: str | None = None) -> ImageSet:
    """The dataset's images at ``config.image_size`` and ``config.channels``."""
    split = split or config.split
    if config.type == "folder":
        size = None if config.patch_size else config.image_size
        return load_folder(Path(config.path), size, config.channels)
    if config.type == "cifar10":
        found = load_cifar10(split, config.path, config.download)
    else:
        found = load_idx_dataset(config.type, split, config.path, config.download)
    images = found.images
    if images.shape[1:] != (config.image_size, config.image_size, config.channels):
        images = np.stack([fit_square(Image.fromarray(image[..., 0] if image.shape[-1] == 1
                                                      else image), config.image_size,
                                      config.channels) for image in images])
    return ImageSet(images, found.labels, found.origin)


def data_roots() -> list[Path]:
    """Roots searched after ``dataset.path``: $AIGC_DATA_DIR, then Debian's location."""
    roots = []
    if os.environ.get("AIGC_DATA_DIR"):
        roots.append(Path(os.environ["AIGC_DATA_DIR"]))
    roots.append(DEBIAN_DATASETS)
    return roots


def idx_candidates(name: str, path: str | None) -> list[Path]:
    """Folders that may hold the IDX files of ``name``, in search order."""
    candidates = [Path(path)] if path else []
    for root in data_roots():
        candidates.extend(root / folder for folder in IDX_FOLDER_NAMES[name])
    return candidates


def load_idx_dataset(name: str, split: str, path: str | None, download: bool) -> ImageSet:
    """One split of an IDX dataset from the first local folder that has it.

    Falls back to Keras' downloader when ``download`` is set; otherwise, or
    when that fails too, raises DataError listing every place it looked.
    """
    def read(folder: Path) -> ImageSet | None:
        files = [_find_idx_file(folder, stem) for stem in IDX_FILES[split]]
        if not all(files):
            return None
        images = read_idx(files[0], expected_dims=3)
        labels = read_idx(files[1], expected_dims=1)
        if len(images) != len(labels):
            raise DataError(f"{files[0]} has {len(images)} images but {files[1]} has "
                            f"{len(labels)} labels; the download is incomplete")
        return ImageSet(images[..., None], labels, str(folder))

    return _first_local_copy(
        f"{name} ({split} split)", idx_candidates(name, path), read,
        (lambda: _download_with_keras(name, split)) if download else None,
        f"Put {IDX_FILES[split][0]}.gz and {IDX_FILES[split][1]}.gz in a folder and set "
        "dataset.path to it (or set AIGC_DATA_DIR)")


def cifar10_candidates(path: str | None) -> list[Path]:
    """Folders or archives that may hold CIFAR-10, in search order (each folder is also
    searched for the published subfolders and archives)."""
    keras_datasets = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    # Keras 2 extracted its download into datasets/cifar-10-batches-py, Keras 3 one level
    # down in datasets/cifar-10-batches-py-target/.
    return [*([Path(path)] if path else []), *data_roots(), keras_datasets,
            keras_datasets / "cifar-10-batches-py-target"]


def load_cifar10(split: str, path: str | None, download: bool) -> ImageSet:
    """One split of CIFAR-10 (binary or Python version) from the first local copy."""
    def read(location: Path) -> ImageSet | None:
        found = read_cifar10(location, split)
        return None if found is None else ImageSet(*found, str(location))

    return _first_local_copy(
        f"cifar10 ({split} split)", cifar10_candidates(path), read,
        (lambda: _download_cifar10(split)) if download else None,
        "Put the extracted cifar-10-batches-bin (or -py) folder, or its .tar.gz, in a "
        "folder and set dataset.path to it (or set AIGC_DATA_DIR)")


def _first_local_copy(what: str, candidates: list[Path], read, download, hint: str) -> ImageSet:
    """``read`` of the first candidate that has the data, else ``download()`` (None:
    not allowed), else a DataError naming every place looked in and ``hint``."""
    looked = []
    for candidate in candidates:
        found = read(candidate)
        if found is not None:
            return found
        looked.append(str(candidate))
    if download is not None:
        try:
            return download()
        except Exception as error:  # the downloader raises many types offline
            looked.append(f"Keras' downloader ({type(error).__name__}: {error})")
    else:
        looked.append("Keras' downloader (skipped: dataset.download is false)")
    raise DataError(f"{what} not found; looked in: " + "; ".join(looked) + f". {hint}")


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """An unsigned-byte IDX array (the MNIST file format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}; the file is damaged") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] != expected_dims:
        raise DataError(f"{path} is not an unsigned-byte IDX file with {expected_dims} "
                        "dimension(s)")
    header = 4 + 4 * expected_dims
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(expected_dims))
    if len(data) != header + int(np.prod(shape)):
        raise DataError(f"{path} is truncated: the header promises shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _quiet_keras():
    """Keras, imported the quiet way (a bare `import keras` prints TensorFlow's C++ logs)."""
    import_tensorflow()
    import keras

    return keras


def _download_with_keras(name: str, split: str) -> ImageSet:
    keras = _quiet_keras()
    loader = {"fashion_mnist": keras.datasets.fashion_mnist, "mnist": keras.datasets.mnist}[name]
    (train_x, train_y), (test_x, test_y) = loader.load_data()
    images, labels = (train_x, train_y) if split == "train" else (test_x, test_y)
    return ImageSet(images[..., None], labels, f"Keras' {name} download")


def _download_cifar10(split: str) -> ImageSet:
    keras = _quiet_keras()
    name, url, md5 = CIFAR_DOWNLOAD
    archive = Path(keras.utils.get_file(name, origin=url, file_hash=md5))
    found = read_cifar10(archive, split)
    if found is None:
        raise DataError(f"{archive} holds no CIFAR-10 {split} batches")
    return ImageSet(*found, f"download {url}")


def list_image_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursive, sorted for a stable order."""
    if not folder.is_dir():
        raise DataError(f"dataset.path {folder} is not a folder; point it at a folder of "
                        "images")
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def load_folder(folder: Path, size: int | None, channels: int) -> ImageSet:
    """Every decodable image under ``folder``, fitted to size x size x channels, or,
    with ``size`` None, at full size (then ``images`` is a list of arrays).

    Files that cannot be decoded are skipped and reported in one warning.
    """
    files = list_image_files(folder)
    if not files:
        raise DataError(f"no images ({IMAGE_FORMATS}) under {folder}")

    def decode(path: Path):
        try:
            if size is None:
                return to_array(read_image(path), channels)
            return fit_square(read_image(path, draft_size=size), size, channels)
        except Exception as error:  # Pillow raises many types on broken files
            return f"{path}: {type(error).__name__}: {error}"

    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(decode, files))
    images = [r for r in results if isinstance(r, np.ndarray)]
    failures = [r for r in results if isinstance(r, str)]
    if failures:
        log.warning("skipped %d of %d files under %s that could not be decoded (first: %s)",
                    len(failures), len(files), folder, failures[0])
    if not images:
        raise DataError(f"none of the {len(files)} image files under {folder} could be decoded")
    return ImageSet(np.stack(images) if size else images, None, str(folder))
