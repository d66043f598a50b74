"""CIFAR-10 from local files: both published formats, archives, and no code from pickles."""

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from aigc_cli.config import DatasetConfig
from aigc_cli.data.cifar import BATCHES
from aigc_cli.data.sources import load_images
from aigc_cli.errors import DataError


def _batch(split_index: int, count: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Random images [N, 32, 32, 3] and labels, different for each batch."""
    rng = np.random.default_rng(split_index)
    return (rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, count).astype(np.uint8))


def _planar(images: np.ndarray) -> np.ndarray:
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # the files' R, G, B planes


def _binary(images, labels) -> bytes:
    return np.concatenate([labels[:, None], _planar(images)], axis=1).tobytes()


def _python(images, labels) -> bytes:  # as the published files: bytes keys, a list of labels
    return pickle.dumps({b"batch_label": b"batch", b"labels": labels.tolist(),
                         b"data": _planar(images), b"filenames": [b"a.png"] * len(labels)},
                        protocol=2)


def _write_all(folder, encode, suffix):
    folder.mkdir(parents=True)
    expected = {}
    for offset, (split, names) in enumerate(BATCHES.items()):
        parts = [_batch(10 * offset + index) for index in range(len(names))]
        for name, part in zip(names, parts):
            (folder / f"{name}{suffix}").write_bytes(encode(*part))
        expected[split] = (np.concatenate([p[0] for p in parts]),
                           np.concatenate([p[1] for p in parts]))
    return expected


def _config(path, split="train", **overrides):
    settings = {"image_size": 32, "channels": 3, **overrides}
    return DatasetConfig(type="cifar10", path=str(path), split=split, download=False, **settings)


@pytest.mark.parametrize("encode, suffix, folder", [(_binary, ".bin", "cifar-10-batches-bin"),
                                                    (_python, "", "cifar-10-batches-py")])
def test_both_formats_give_the_pixels_and_labels_in_order(tmp_path, encode, suffix, folder):
    expected = _write_all(tmp_path / folder, encode, suffix)
    for split in ("train", "test"):
        found = load_images(_config(tmp_path, split))  # found in the published subfolder
        np.testing.assert_array_equal(found.images, expected[split][0])
        np.testing.assert_array_equal(found.labels, expected[split][1])
    assert len(load_images(_config(tmp_path, "train")).images) == 15


def test_the_downloaded_archive_is_read_without_extracting(tmp_path):
    expected = _write_all(tmp_path / "cifar-10-batches-py", _python, "")
    archive = tmp_path / "data" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    found = load_images(_config(archive.parent, "test"))
    np.testing.assert_array_equal(found.images, expected["test"][0])
    assert sorted(os.listdir(archive.parent)) == ["cifar-10-python.tar.gz"]
    gray = load_images(_config(archive, "test", image_size=16, channels=1)).images
    assert gray.shape == (3, 16, 16, 1)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar10"
    _write_all(folder, _python, "")
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Payload(), b"labels": []}))
    with pytest.raises(DataError, match=r"test_batch is not a CIFAR-10 Python batch: refused "
                                        r"to load posix\.system"):
        load_images(_config(tmp_path, "test"))
    assert not (tmp_path / "pwned").exists()


class _HugeArray:
    def __reduce__(self):  # a few bytes that would allocate 1.2 GB
        return (np.ndarray((0,), np.uint8).__reduce__()[0], (np.ndarray, (400000, 3072), b"B"))


class _ConstructedArray:
    def __reduce__(self):
        return (np.ndarray, ((400000, 3072), "u1"))


@pytest.mark.parametrize("batch, message", [
    ({b"data": _HugeArray(), b"labels": []}, "refused numpy array reconstruction"),
    ({b"data": _ConstructedArray(), b"labels": []}, "refused to construct numpy.ndarray"),
    ({b"data": np.array([{}], dtype=object), b"labels": [0]}, "refused numpy dtype object"),
    ({b"data": _planar(_batch(0)[0]), b"labels": [1, 2]}, "3 images need as many labels"),
    ({b"data": _planar(_batch(0)[0]), b"labels": [1, 2, 10]}, "labels in 0-9"),
    ([1, 2], "not a dict"),
])
def test_python_batches_that_are_not_cifar_are_refused(tmp_path, batch, message):
    folder = tmp_path / "cifar10"
    _write_all(folder, _python, "")
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=message):
        load_images(_config(tmp_path, "test"))


def test_a_file_far_larger_than_a_batch_is_not_read(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    _write_all(folder, _binary, ".bin")
    monkeypatch.setattr("aigc_cli.data.cifar.MAX_BATCH_BYTES", 1000)
    with pytest.raises(DataError, match="far more than a CIFAR-10 batch"):
        load_images(_config(tmp_path, "test"))


def test_damaged_and_missing_copies_name_the_file_and_every_place(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    _write_all(folder, _binary, ".bin")
    (folder / "test_batch.bin").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match=r"test_batch.bin is not a CIFAR-10 binary batch"):
        load_images(_config(tmp_path, "test"))
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DataError) as error:
        load_images(_config(tmp_path / "missing", "test"))
    for place in ("missing", str(tmp_path / "env"), str(tmp_path / "keras" / "datasets"),
                  "dataset.download is false", "cifar-10-batches-bin"):
        assert place in str(error.value)


@pytest.mark.slow
def test_a_conditional_gan_trains_on_cifar10_for_epochs(tmp_path, runner):
    import yaml

    from aigc_cli.cli import main
    from conftest import TINY_MODEL

    _write_all(tmp_path / "cifar-10-batches-bin", _binary, ".bin")
    shipped = Path(__file__).resolve().parents[1] / "configs" / "cifar10_dcgan.yaml"
    config = yaml.safe_load(shipped.read_text())
    config["model"].update({**TINY_MODEL, "num_classes": 10})
    config["dataset"]["path"] = str(tmp_path)
    config["training"].update({"batch_size": 5, "epochs": 1, "preview_images": 4})
    config["output"]["run_dir"] = str(tmp_path / "run")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(main, ["train", str(tmp_path / "config.yaml"), "-q"])
    assert result.exit_code == 0, result.output
    assert "trained to step 3" in result.output  # 15 images, batch 5, one epoch
