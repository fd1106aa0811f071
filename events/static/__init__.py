"""Static image sources and their conversion into SNN inputs.

Loaders take a local root and never download; a missing or incomplete folder raises
``DatasetError`` with the expected layout. Every loader returns a :class:`StaticImages`;
:class:`StaticInputSpec` / :func:`to_snn_input` turn an image into ``float32 [T, 2, H, W]``.
"""

from .convert import (
    StaticInputSpec,
    image_channel,
    resize_image,
    static_channels,
    tile_time,
    to_snn_batch,
    to_snn_input,
)
from .folders import (
    CEPDVS_CLASSES,
    NCALTECH101_CLASSES,
    load_caltech101,
    load_cepdvs_images,
    load_omniglot,
)
from .idx import (
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    load_digits,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
    read_idx,
)
from .images import StaticImages, read_image

#: Loader per static source name, for a dataset registry.
STATIC_SOURCES = {
    "caltech101": load_caltech101,
    "omniglot": load_omniglot,
    "cepdvs": load_cepdvs_images,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "digits": load_digits,
}

__all__ = [
    "CEPDVS_CLASSES",
    "DEBIAN_FASHION_MNIST",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "NCALTECH101_CLASSES",
    "STATIC_SOURCES",
    "StaticImages",
    "StaticInputSpec",
    "image_channel",
    "load_caltech101",
    "load_cepdvs_images",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
    "load_omniglot",
    "read_idx",
    "read_image",
    "resize_image",
    "static_channels",
    "tile_time",
    "to_snn_batch",
    "to_snn_input",
]
