"""render: tile layout and the ON / OFF colours; save_image writes a PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snn_transfer.errors import ConfigError
from snn_transfer.events.render import OFF_COLOR, ON_COLOR, SEPARATOR_COLOR, render, save_image


def two_events(t: int = 4, h: int = 5, w: int = 7) -> np.ndarray:
    frames = np.zeros((t, 2, h, w), np.float32)
    frames[:, 1, 1, 2] = 3.0  # ON
    frames[:, 0, 3, 4] = 3.0  # OFF
    return frames


def test_grid_shape_and_separators():
    image = render(two_events(), columns=3, separator=2)
    assert image.dtype == np.uint8 and image.shape == (2 * 5 + 2, 3 * 7 + 2 * 2, 3)
    assert (image[:, 7:9] == SEPARATOR_COLOR).all()  # between the first two columns
    assert (image[5:7, :] == SEPARATOR_COLOR).all()  # between the rows
    assert (image[7:, 18:] == 0).all()  # the unused last slot is background
    assert render(two_events(t=12)).shape == (2 * 5 + 1, 10 * 7 + 9, 3)  # default 10 columns


def test_on_and_off_colours_on_black_and_white():
    image = render(two_events(), columns=4, separator=1)
    for step in range(4):
        left = step * 8
        assert tuple(image[1, left + 2]) == ON_COLOR
        assert tuple(image[3, left + 4]) == OFF_COLOR
        assert tuple(image[0, left]) == (0, 0, 0)
    white = render(two_events(), columns=4, background="white")
    assert tuple(white[1, 2]) == ON_COLOR and tuple(white[3, 4]) == OFF_COLOR
    assert tuple(white[0, 0]) == (255, 255, 255)


def test_scaling_mono_and_inputs():
    frames = two_events(t=1)
    frames[0, 1, 0, 0] = 1.5
    half = render(frames, vmax=3.0)
    assert tuple(half[0, 0]) == tuple(round(c / 2) for c in ON_COLOR)
    mono = render(frames[:, :1])
    assert tuple(mono[3, 4]) == (255, 255, 255) and tuple(mono[1, 2]) == (0, 0, 0)
    np.testing.assert_array_equal(render(torch.from_numpy(frames)), render(frames))
    np.testing.assert_array_equal(render(frames[0]), render(frames))
    static = np.ones((2, 2, 3, 3), np.float32)  # static tiles: both channels equal
    assert tuple(render(static)[0, 0]) == tuple(
        min(255, a + b) for a, b in zip(ON_COLOR, OFF_COLOR, strict=True)
    )
    for bad in (dict(columns=0), dict(background="grey"), dict(vmax=0.0)):
        with pytest.raises(ConfigError):
            render(frames, **bad)
    with pytest.raises(ConfigError, match="T, P, H, W"):
        render(np.zeros((2, 3, 4, 4)))


def test_save_image_writes_png(tmp_path):
    from PIL import Image

    image = render(two_events())
    path = save_image(image, tmp_path / "sub" / "frames.png")
    with Image.open(path) as png:
        assert png.format == "PNG"
        np.testing.assert_array_equal(np.asarray(png.convert("RGB")), image)
    with pytest.raises(ConfigError):
        save_image(image.astype(np.float32), tmp_path / "bad.png")
