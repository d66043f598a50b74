import numpy as np
from PIL import Image

from aigc_cli.io.images import fit_square, make_grid, save_png, to_uint8


def test_to_uint8_maps_the_range_and_clips():
    values = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 128, 255, 255])


def test_grid_places_each_image():
    images = np.stack([np.full((2, 3, 1), i, np.uint8) for i in range(5)])
    grid = make_grid(images, columns=3, padding=1)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    assert grid[1, 1 + 4 * 2, 0] == 2 and grid[4, 1 + 4, 0] == 4
    assert grid[4, 1 + 8, 0] == 0  # the empty sixth cell stays black


def test_fit_square_centre_crops_the_long_side():
    image = np.zeros((10, 30), np.uint8)
    image[:, 10:20] = 255  # a white centre band as wide as the crop
    fitted = fit_square(Image.fromarray(image), 10, 1)
    assert fitted.shape == (10, 10, 1) and fitted.min() > 200


def test_save_png_is_atomic_and_readable(tmp_path):
    path = tmp_path / "out" / "x.png"
    save_png(np.full((4, 4, 3), 7, np.uint8), path)
    assert np.asarray(Image.open(path)).tolist() == np.full((4, 4, 3), 7).tolist()
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]
