"""CIFAR-10 from local files, read without executing anything.

Both published versions are read, extracted or as the downloaded .tar.gz:
the binary one (``data_batch_1.bin`` ...: a label byte and 3,072 pixel bytes
per image) and the Python one (``data_batch_1`` ...: pickles). Pickles can run
code when loaded, so they go through an unpickler that builds NumPy arrays and
plain containers only and refuses anything else.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from aigc_cli.errors import DataError

BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
FOLDER_NAMES = ("cifar10", "cifar-10-batches-bin", "cifar-10-batches-py")
ARCHIVE_NAMES = ("cifar-10-binary.tar.gz", "cifar-10-python.tar.gz",
                 "cifar-10-batches-py.tar.gz")  # the last: the name Keras caches it under
DOWNLOAD = ("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a")  # file name, URL, MD5 published beside it
SIDE, RECORD = 32, 1 + 3 * 32 * 32
CLASSES = 10
#: A published batch is 30.7 MB (binary) or 31 MB (Python): anything far larger is not one.
MAX_BATCH_BYTES = 64 * 2**20


def read_cifar10(location: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(images [N, 32, 32, 3] uint8, labels [N] uint8) of ``split`` from a folder
    (or one of its CIFAR subfolders or archives) or an archive; None if it has none."""
    if location.is_file():
        return _from_archive(location, split)
    if not location.is_dir():
        return None
    for folder in (location, *(location / name for name in FOLDER_NAMES)):
        for suffix in (".bin", ""):
            files = [folder / f"{batch}{suffix}" for batch in BATCHES[split]]
            if all(path.is_file() for path in files):
                return _stack([_decode(_read_capped(path), path) for path in files])
    for name in ARCHIVE_NAMES:
        if (location / name).is_file():
            return _from_archive(location / name, split)
    return None


def _from_archive(path: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    # Members are read into memory by name, never extracted: no paths from the archive
    # reach the filesystem.
    try:
        with tarfile.open(path, "r:*") as archive:
            members = {Path(member.name).name: member for member in archive.getmembers()
                       if member.isfile()}
            parts = []
            for batch in BATCHES[split]:
                member = members.get(f"{batch}.bin") or members.get(batch)
                if member is None:
                    return None
                name = f"{path}:{member.name}"
                _check_size(member.size, name)
                parts.append(_decode(archive.extractfile(member).read(), name))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}; the archive is damaged") from None
    return _stack(parts)


def _read_capped(path: Path) -> bytes:
    _check_size(path.stat().st_size, path)
    return path.read_bytes()


def _check_size(size: int, name) -> None:
    if size > MAX_BATCH_BYTES:
        raise DataError(f"{name} is {size / 2**20:.0f} MB, far more than a CIFAR-10 batch "
                        f"(31 MB); it is not one")


def _decode(data: bytes, name) -> tuple[np.ndarray, np.ndarray]:
    if str(name).endswith(".bin"):
        if not data or len(data) % RECORD:
            raise DataError(f"{name} is not a CIFAR-10 binary batch ({len(data)} bytes is not "
                            f"a multiple of {RECORD})")
        records = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
        images, labels = _images(records[:, 1:], name), records[:, 0].copy()
    else:
        try:
            batch = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
            pixels, labels = (_entry(batch, key) for key in ("data", "labels"))
            pixels, labels = np.asarray(pixels, np.uint8), np.asarray(labels, np.int64)
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError,
                OverflowError) as error:
            raise DataError(f"{name} is not a CIFAR-10 Python batch: {error}") from None
        images = _images(pixels, name)
    if labels.shape != (len(images),) or labels.min(initial=0) < 0 \
            or labels.max(initial=0) >= CLASSES:
        raise DataError(f"{name}: {len(images)} images need as many labels in 0-{CLASSES - 1}; "
                        f"got {labels.size} ({labels.min(initial=0)}-{labels.max(initial=0)})")
    return images, labels.astype(np.uint8)


def _entry(batch, key: str):
    """A batch's ``key``: bytes keys when written by Python 2, str keys otherwise."""
    if not isinstance(batch, dict):
        raise TypeError(f"a {type(batch).__name__}, not a dict of arrays")
    return batch[key.encode()] if key.encode() in batch else batch[key]


def _images(rows: np.ndarray, name) -> np.ndarray:
    if rows.ndim != 2 or rows.shape[1] != RECORD - 1:
        raise DataError(f"{name}: image rows of {rows.shape[1:]} values, expected "
                        f"{RECORD - 1} (3 planes of 32x32)")
    return rows.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)  # planar RGB -> HWC


def _stack(parts) -> tuple[np.ndarray, np.ndarray]:
    return (np.ascontiguousarray(np.concatenate([images for images, _ in parts])),
            np.concatenate([labels for _, labels in parts]))


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Builds what a CIFAR batch holds (dicts, lists, bytes, ints, NumPy arrays) and
    refuses every other global, which is how a pickle would run code."""

    def find_class(self, module: str, name: str):
        if module.split(".")[0] == "numpy" and name in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[name]
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 stores bytes
            return _latin1_encode
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (a CIFAR-10 batch "
                                     "holds arrays only)")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused to decode with codec {encoding!r}")
    return text.encode("latin1")


class _NdarrayToken:
    """Stands for ``numpy.ndarray`` in a pickle: accepted as ``_reconstruct``'s first
    argument, refused as a constructor (``ndarray(shape)`` would allocate any size)."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError("refused to construct numpy.ndarray directly")


_NUMPY_RECONSTRUCT = np.ndarray((0,), np.uint8).__reduce__()[0]


def _reconstruct(cls, shape, dtype_code):
    # NumPy's own pickles always start from an empty array and fill it from the data
    # (whose size the file bounds); another shape would allocate whatever it names.
    if cls is not _NdarrayToken or tuple(shape) != (0,):
        raise pickle.UnpicklingError(f"refused numpy array reconstruction of shape {shape}")
    return _NUMPY_RECONSTRUCT(np.ndarray, (0,), dtype_code)


def _dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject or dtype.kind == "V":
        raise pickle.UnpicklingError(f"refused numpy dtype {dtype} (only plain numbers)")
    return dtype


_NUMPY_GLOBALS = {"_reconstruct": _reconstruct, "ndarray": _NdarrayToken, "dtype": _dtype,
                  "scalar": np.uint8(0).__reduce__()[0]}  # one number from its bytes
