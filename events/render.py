"""Pictures of frames: one tile per time step, ON and OFF events in two colours.

``render`` is pure (numpy in, uint8 RGB out); ``save_image`` writes it as PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError

Color = tuple[int, int, int]

ON_COLOR: Color = (255, 64, 32)  # ON (p = 1, channel 1): red-orange
OFF_COLOR: Color = (32, 144, 255)  # OFF (p = 0, channel 0): blue
SEPARATOR_COLOR: Color = (96, 96, 96)


def _as_numpy(frames: Any) -> np.ndarray:
    if hasattr(frames, "detach"):  # a torch tensor, possibly on a GPU
        frames = frames.detach().cpu().numpy()
    return np.asarray(frames, dtype=np.float32)


def robust_max(frames: np.ndarray, percentile: float = 99.0) -> float:
    """The ``percentile`` of the non-zero values (1.0 when all are zero).

    A few hot pixels then do not darken the whole picture.
    """
    values = frames[frames > 0]
    if values.size == 0:
        return 1.0
    return float(np.percentile(values, percentile))


def render(
    frames: Any,
    *,
    columns: int | None = None,
    vmax: float | None = None,
    percentile: float = 99.0,
    on_color: Color = ON_COLOR,
    off_color: Color = OFF_COLOR,
    background: str = "black",
    separator: int = 1,
    separator_color: Color = SEPARATOR_COLOR,
) -> np.ndarray:
    """Image grid of ``frames`` ``[T, P, H, W]`` (or one frame ``[P, H, W]``): uint8
    ``[H', W', 3]``, tiles left to right and top to bottom, ``columns`` per row (default
    ``min(T, 10)``), ``separator`` pixels of ``separator_color`` between tiles.

    With P = 2, channel 1 (ON) is drawn in ``on_color`` and channel 0 (OFF) in ``off_color``;
    where both fire the colours add up. With P = 1 the counts are drawn in white on black (or
    black on white). Values are divided by ``vmax`` (default: ``robust_max`` of the sample, so
    every sample uses its own scale) and clipped to [0, 1]. ``background`` is "black" or
    "white"; on white, colours are subtracted from white instead of added to black.
    Static tiles ``[T, 2, H, W]`` with equal channels come out in the sum of both colours.
    """
    data = _as_numpy(frames)
    if data.ndim == 3:
        data = data[None]
    if data.ndim != 4 or data.shape[1] not in (1, 2) or data.shape[0] == 0:
        raise ConfigError(f"render: frames must be [T, P, H, W] with P 1 or 2, got {data.shape}")
    if background not in ("black", "white"):
        raise ConfigError(f"render: background must be 'black' or 'white', got {background!r}")
    n_steps, n_pol, height, width = data.shape
    columns = min(n_steps, 10) if columns is None else columns
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ConfigError(f"render: columns must be a positive int, got {columns!r}")
    if separator < 0:
        raise ConfigError(f"render: separator must be >= 0, got {separator}")
    scale = robust_max(data, percentile) if vmax is None else float(vmax)
    if not scale > 0:
        raise ConfigError(f"render: vmax must be > 0, got {vmax}")
    level = np.clip(data / scale, 0.0, 1.0)

    if n_pol == 2:
        pairs = [(level[:, 1], on_color), (level[:, 0], off_color)]
    else:
        pairs = [(level[:, 0], (255, 255, 255) if background == "black" else (0, 0, 0))]
    if background == "black":
        tiles = sum(lv[..., None] * np.asarray(c, np.float32) for lv, c in pairs)
    else:
        tiles = 255.0 - sum(lv[..., None] * (255.0 - np.asarray(c, np.float32)) for lv, c in pairs)
    tiles = np.clip(np.rint(tiles), 0, 255).astype(np.uint8)  # [T, H, W, 3]

    rows = math.ceil(n_steps / columns)
    image = np.empty(
        (rows * height + (rows - 1) * separator, columns * width + (columns - 1) * separator, 3),
        dtype=np.uint8,
    )
    image[:] = separator_color
    for index in range(rows * columns):
        row, col = divmod(index, columns)
        top, left = row * (height + separator), col * (width + separator)
        tile = image[top : top + height, left : left + width]
        tile[:] = tiles[index] if index < n_steps else (0 if background == "black" else 255)
    return image


def save_image(image: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 ``[H, W, 3]`` image as PNG (Pillow, else matplotlib); returns the path."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError(
            f"save_image: expected uint8 [H, W, 3], got {image.dtype} {list(image.shape)}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:
        import matplotlib.image

        matplotlib.image.imsave(path, image, format="png")
    else:
        Image.fromarray(image).save(path, format="PNG")
    return path
