import gzip
import logging

import numpy as np
import pytest
from PIL import Image

from aigc_cli.config import DatasetConfig
from aigc_cli.data.sources import IDX_FILES, load_folder, load_idx_dataset, load_images, read_idx
from aigc_cli.errors import DataError

from conftest import SHARED_FASHION_MNIST, make_idx_dataset, write_idx


def test_read_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz", expected_dims=3), array)


def test_truncated_and_foreign_idx_files_are_data_errors(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((4, 5, 5), np.uint8))
    data = gzip.decompress((tmp_path / "x.gz").read_bytes())
    (tmp_path / "short").write_bytes(data[:-3])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short", expected_dims=3)
    with pytest.raises(DataError, match="not an unsigned-byte IDX file"):
        read_idx(tmp_path / "x.gz", expected_dims=1)


def test_lookup_order_path_then_env_then_error(tmp_path, monkeypatch):
    env_root = tmp_path / "env"
    make_idx_dataset(env_root / "fashion-mnist", count=5)
    explicit = make_idx_dataset(tmp_path / "explicit", count=7)
    monkeypatch.setenv("AIGC_DATA_DIR", str(env_root))
    assert len(load_idx_dataset("fashion_mnist", "train", str(explicit), False).images) == 7
    found = load_idx_dataset("fashion_mnist", "train", str(tmp_path / "missing"), False)
    assert len(found.images) == 5 and found.origin == str(env_root / "fashion-mnist")
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as error:
        load_idx_dataset("mnist", "test", str(tmp_path / "missing"), False)
    message = str(error.value)
    for place in (str(tmp_path / "missing"), str(tmp_path / "nowhere" / "mnist"),
                  "/usr/share/datasets/mnist", "dataset.download is false", IDX_FILES["test"][0]):
        assert place in message


@pytest.mark.skipif(not SHARED_FASHION_MNIST.is_dir(), reason="no ../shared/data checkout")
def test_shared_fashion_mnist_is_found_through_aigc_data_dir(monkeypatch):
    monkeypatch.setenv("AIGC_DATA_DIR", str(SHARED_FASHION_MNIST.parent))
    found = load_idx_dataset("fashion_mnist", "test", None, False)
    assert found.images.shape == (10000, 28, 28, 1) and found.labels.shape == (10000,)


def test_idx_images_are_resized_to_the_configured_shape(idx_folder):
    config = DatasetConfig(path=str(idx_folder), image_size=32, channels=3, download=False)
    images = load_images(config).images
    assert images.shape == (64, 32, 32, 3) and images.dtype == np.uint8


def test_folder_skips_undecodable_files_with_one_warning(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "a.png")
    Image.new("L", (30, 60), 128).save(tmp_path / "sub" / "b.JPG", format="JPEG")
    Image.new("RGBA", (16, 16), (0, 0, 255, 255)).save(tmp_path / "sub" / "c.webp")
    Image.new("RGB", (16, 16)).save(tmp_path / "d.bmp")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("aigc")
    logger.addHandler(handler)
    try:
        found = load_folder(tmp_path, size=16, channels=3)
    finally:
        logger.removeHandler(handler)
    assert found.images.shape == (4, 16, 16, 3)
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2 of 6 files" in warnings[0].getMessage()
    red = found.images[0]  # a.png sorts first; centre crop of a red image stays red
    assert (red[..., 0] == 255).all() and (red[..., 1:] == 0).all()


def test_folder_with_no_decodable_image_is_an_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="none of the 1 image files"):
        load_folder(tmp_path, size=8, channels=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_folder(tmp_path / "empty", size=8, channels=1)
    with pytest.raises(DataError, match="not a folder"):
        load_folder(tmp_path / "x.png", size=8, channels=1)


def test_device_batches_equal_the_tf_data_batches(idx_folder):
    import dataclasses

    import tensorflow as tf

    from aigc_cli.config import DatasetConfig
    from aigc_cli.data.pipeline import DeviceBatches, training_dataset
    from aigc_cli.data.sources import load_images

    config = dataclasses.replace(DatasetConfig(type="fashion_mnist", path=str(idx_folder)),
                                 horizontal_flip=True, on_device=True)
    images = load_images(config)  # 64 images in batches of 24: batches cross epochs
    assert DeviceBatches.eligible(images, config)
    stream = training_dataset(images, config, 24, seed=3, with_labels=True, start_batch=2)
    device = DeviceBatches(images, config, 24, seed=3, with_labels=True)
    for number, (pixels, labels) in zip(range(2, 9), stream):
        on_device = device.replica_batch(tf.constant(number))
        np.testing.assert_array_equal(on_device[0].numpy(), pixels.numpy())
        np.testing.assert_array_equal(on_device[1].numpy(), labels.numpy())
    assert not DeviceBatches.eligible(images, dataclasses.replace(config, on_device=False))
    assert not DeviceBatches.eligible(images, dataclasses.replace(config, on_device=None))  # CPU
