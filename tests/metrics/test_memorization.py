"""The memorization audits flag a copycat generator and pass new real images."""

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from aigc_cli.metrics.memorization import (copied_fraction, data_copying_statistic,
                                           mann_whitney_z, memorization, nearest_two)


def _mixture(count, seed):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(scale=4.0, size=(5, 8))
    return centres[rng.integers(0, 5, count)] + rng.normal(size=(count, 8))


TRAIN, TEST = _mixture(2000, 1), _mixture(1000, 2)


def test_a_copycat_generator_is_flagged():
    copies = TRAIN[:1000] + np.random.default_rng(3).normal(scale=1e-3, size=(1000, 8))
    report = memorization(TRAIN, TEST, copies)
    assert report["memorization_ct"] < -4  # about the most a cell of ~20 images can say
    assert report["memorization_copied_fraction"] > 0.95


def test_new_real_images_pass():
    report = memorization(TRAIN, TEST, _mixture(1000, 4))
    assert abs(report["memorization_ct"]) < 2.5
    assert report["memorization_copied_fraction"] < 0.1


def test_the_z_score_matches_scipys_u_statistic():
    rng = np.random.default_rng(5)
    generated, held_out = rng.normal(size=70).round(1), rng.normal(0.3, size=90).round(1)
    u = mannwhitneyu(generated, held_out, alternative="two-sided", method="asymptotic",
                     use_continuity=False).statistic  # ties rounded in on purpose
    expected = (u - 70 * 90 / 2) / np.sqrt(70 * 90 * (70 + 90 + 1) / 12)
    assert mann_whitney_z(generated, held_out) == pytest.approx(expected)


def test_nearest_two_against_a_direct_search():
    rng = np.random.default_rng(6)
    queries, reference = rng.normal(size=(30, 4)), rng.normal(size=(50, 4))
    first, second, index = nearest_two(queries, reference, chunk=7)
    direct = np.sqrt(((queries[:, None] - reference[None]) ** 2).sum(-1))
    ordered = np.sort(direct, axis=1)
    np.testing.assert_allclose(first, ordered[:, 0], atol=1e-9)
    np.testing.assert_allclose(second, ordered[:, 1], atol=1e-9)
    assert (index == direct.argmin(1)).all()
    share, ratios, _ = copied_fraction(queries, reference)
    assert share == pytest.approx(np.mean(ordered[:, 0] / ordered[:, 1] < 1 / 3))


def test_a_generator_that_covers_one_cell_is_scored_there_only():
    one_mode = TRAIN[np.argsort(TRAIN[:, 0])[:300]] + 1e-3
    assert data_copying_statistic(TRAIN, TEST, one_mode) < -3


def test_the_closest_pairs_grid_puts_each_sample_beside_its_nearest_training_image():
    from aigc_cli.metrics.memorization import closest_pairs_grid

    rng = np.random.default_rng(7)
    train_images = rng.integers(0, 255, (20, 4, 4, 1), dtype=np.uint8)
    samples = rng.integers(0, 255, (10, 4, 4, 1), dtype=np.uint8)
    samples[3] = train_images[11]  # an exact copy: the closest pair of all
    flat = lambda images: images.reshape(len(images), -1).astype(float)  # noqa: E731
    grid = closest_pairs_grid(samples, train_images, nearest_two(flat(samples),
                                                                 flat(train_images)), pairs=4)
    assert grid.shape == (2 + 1 * 6, 2 + 8 * 6, 1)  # 8 tiles of 4 + 2 padding in one row
    np.testing.assert_array_equal(grid[2:6, 2:6], samples[3])
    np.testing.assert_array_equal(grid[2:6, 8:12], train_images[11])


@pytest.mark.slow
def test_eval_samples_measures_any_folder_against_a_dataset(idx_folder, tmp_path, runner):
    import json

    from PIL import Image

    from aigc_cli.cli import main
    from aigc_cli.config import DatasetConfig
    from aigc_cli.data.sources import load_images

    from conftest import tiny_config_dict

    config = tmp_path / "data.yaml"
    config.write_text(json.dumps(tiny_config_dict(idx_folder, tmp_path / "run")))
    train = load_images(DatasetConfig(type="fashion_mnist", path=str(idx_folder)), "train")
    (tmp_path / "copies").mkdir()
    for index, image in enumerate(train.images[:40]):  # a "generator" that copies
        Image.fromarray(image[..., 0]).save(tmp_path / "copies" / f"{index}.png")
    result = runner.invoke(main, ["eval", "--samples", str(tmp_path / "copies"), "--dataset",
                                  str(config), "--json", "--closest-pairs",
                                  str(tmp_path / "pairs.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["num_samples"] == 40 and report["fid"] >= 0
    assert report["memorization_copied_fraction"] == 1.0  # each is its training image
    assert (tmp_path / "pairs.png").is_file()
    neither = runner.invoke(main, ["eval", "--samples", str(tmp_path / "copies")])
    assert neither.exit_code == 2 and "--dataset" in neither.output
    both = runner.invoke(main, ["eval", str(tmp_path), "--samples", str(tmp_path / "copies"),
                                "--dataset", "mnist"])
    assert both.exit_code == 2
