"""In-memory digit sets: MNIST and Fashion-MNIST in IDX format, and scikit-learn's digits.

IDX files are read whole, plain or gzip-compressed (recognised by content, not by name), and
their header is checked strictly: two zero bytes, a known element type, the expected number
of dimensions, and a payload of exactly the announced size.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from snn_transfer.errors import DatasetError

from .images import StaticImages, layout_error

MNIST_CLASSES: tuple[str, ...] = (
    "0 - zero",
    "1 - one",
    "2 - two",
    "3 - three",
    "4 - four",
    "5 - five",
    "6 - six",
    "7 - seven",
    "8 - eight",
    "9 - nine",
)
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
#: Where Debian's ``dataset-fashion-mnist`` package installs the four ``.gz`` files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path, *, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or gzip) into a native-endian numpy array.

    Args:
        path: the file.
        ndim: the number of dimensions the header must announce (3 for images, 1 for labels);
            None accepts any.

    Raises:
        DatasetError: missing file, broken gzip stream, bad magic, unexpected dimensions, or
            a payload shorter or longer than the header says; the message names the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the IDX file ({err.strerror})") from err
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise DatasetError(
                f"{path}: broken gzip stream ({err}); the file is truncated or damaged, "
                "download it again"
            ) from err
    if len(raw) < 4:
        raise DatasetError(f"{path}: {len(raw)} bytes, too short for an IDX header (4 bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(
            f"{path}: not an IDX file (magic bytes {raw[:4].hex()}; expected 00 00, a type "
            "code among 08 09 0b 0c 0d 0e, and the number of dimensions)"
        )
    dtype, dims = _IDX_TYPES[raw[2]], raw[3]
    if ndim is not None and dims != ndim:
        raise DatasetError(f"{path}: IDX header announces {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", dims, 4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DatasetError(
            f"{path}: {problem}: {len(raw)} bytes (uncompressed), the header {shape} of "
            f"{dtype} announces {expected}; download the file again"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


_IDX_LAYOUT = """\
  <root>/{split}-images-idx3-ubyte[.gz] and <root>/{split}-labels-idx1-ubyte[.gz]
  (split prefix 'train' or 't10k'; also accepted under <root>/raw/ and <root>/{name}/raw/,
  torchvision's layout; Debian's dataset-fashion-mnist installs them in
  /usr/share/datasets/fashion-mnist)"""


def _find_idx(root: Path, name: str, stem: str) -> Path | None:
    for folder in (root, root / "raw", root / name / "raw"):
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def load_idx_dataset(
    root: str | Path, *, name: str, classes: tuple[str, ...], split: str = "train"
) -> StaticImages:
    """An MNIST-format set (images ``idx3`` + labels ``idx1``) from ``root``.

    Args:
        root: folder holding the IDX files, or torchvision's root (``<root>/<name>/raw``).
        name: the dataset's folder name in torchvision's layout (``MNIST``, ``FashionMNIST``).
        classes: class names, index = label.
        split: ``"train"`` or ``"test"`` (file prefix ``t10k``).

    Returns:
        In-memory ``StaticImages``: ``uint8 [N, 28, 28]``, names ``"<split>/<index:05d>"``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    root = Path(root)
    prefix = "train" if split == "train" else "t10k"
    layout = _IDX_LAYOUT.format(split=prefix, name=name)
    if not root.is_dir():
        raise layout_error(
            name,
            f"folder {root} does not exist",
            layout,
            "put the IDX files there yourself; nothing is downloaded automatically",
        )
    found = {}
    for kind, dims in (("images", 3), ("labels", 1)):
        stem = f"{prefix}-{kind}-idx{dims}-ubyte"
        found[kind] = _find_idx(root, name, stem)
        if found[kind] is None:
            raise layout_error(
                name, f"{stem}[.gz] not found under {root}", layout, "check root and split"
            )
    images = read_idx(found["images"], ndim=3)
    labels = read_idx(found["labels"], ndim=1)
    for what, array in (("images", images), ("labels", labels)):
        if array.dtype != np.uint8:
            raise DatasetError(
                f"{found[what]}: element type {array.dtype}, expected unsigned bytes"
            )
    if len(images) != len(labels):
        raise DatasetError(
            f"{found['images']} holds {len(images)} images but {found['labels']} holds "
            f"{len(labels)} labels; the two files do not belong together"
        )
    if len(labels) and labels.max() >= len(classes):
        raise DatasetError(
            f"{found['labels']}: label {int(labels.max())} outside 0-{len(classes) - 1}"
        )
    return StaticImages(
        labels=labels,
        classes=classes,
        names=[f"{split}/{i:05d}" for i in range(len(labels))],
        arrays=images,
        source=f"{name} {split} at {found['images'].parent}",
    )


def load_mnist(root: str | Path, *, split: str = "train") -> StaticImages:
    """MNIST from IDX files (see :func:`load_idx_dataset`); classes ``"0 - zero"`` ..."""
    return load_idx_dataset(root, name="MNIST", classes=MNIST_CLASSES, split=split)


def load_fashion_mnist(
    root: str | Path = DEBIAN_FASHION_MNIST, *, split: str = "train"
) -> StaticImages:
    """Fashion-MNIST from IDX files; the default root is Debian's package location."""
    return load_idx_dataset(root, name="FashionMNIST", classes=FASHION_MNIST_CLASSES, split=split)


def load_digits(*, size: int = 28, box: int = 20) -> StaticImages:
    """scikit-learn's bundled 8x8 digits (1,797 images), upsampled to look like MNIST.

    The 0-16 values are scaled to [0, 1], upsampled bilinearly (Pillow, on floats) to
    ``box x box`` and centred on a black ``size x size`` frame; MNIST digits sit in a 20x20
    box inside 28x28, hence the defaults. ``box=size`` fills the whole frame instead.

    Returns:
        In-memory ``StaticImages``: ``uint8 [1797, size, size]``, 0-255 (rounded), white
        digit on black; classes :data:`MNIST_CLASSES`; names ``"digits/<index:04d>"``.
    """
    from PIL import Image
    from sklearn.datasets import load_digits as sklearn_digits

    if not 0 < box <= size:
        raise ValueError(f"need 0 < box <= size, got box={box}, size={size}")
    bunch = sklearn_digits()
    small = bunch.images.astype(np.float32) / 16.0
    out = np.zeros((len(small), size, size), np.uint8)
    start = (size - box) // 2
    for i, digit in enumerate(small):
        big = np.asarray(Image.fromarray(digit, "F").resize((box, box), Image.Resampling.BILINEAR))
        out[i, start : start + box, start : start + box] = np.rint(big.clip(0, 1) * 255)
    return StaticImages(
        labels=bunch.target,
        classes=MNIST_CLASSES,
        names=[f"digits/{i:04d}" for i in range(len(out))],
        arrays=out,
        source="scikit-learn digits",
    )
