"""Static image sources (fake folder trees and IDX files) and their conversion to SNN input."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from idx_files import idx_bytes, write_idx_pair
from PIL import Image

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.static import (
    CEPDVS_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    NCALTECH101_CLASSES,
    StaticImages,
    StaticInputSpec,
    image_channel,
    load_caltech101,
    load_cepdvs_images,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_omniglot,
    read_idx,
    static_channels,
    tile_time,
    to_snn_batch,
    to_snn_input,
)


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def rgb(rng: np.random.Generator, h: int = 12, w: int = 10) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- Caltech101 -------------------------------------------------------------------------


@pytest.fixture
def caltech(tmp_path, rng) -> Path:
    """A Caltech101 archive layout with 5 class folders, files created out of order."""
    top = tmp_path / "101_ObjectCategories"
    for name, numbers in {
        "accordion": [3, 1, 2],
        "Faces": [2, 1],
        "Faces_easy": [2, 1],
        "BACKGROUND_Google": [1],
        "yin_yang": [10, 9],
    }.items():
        for n in numbers:
            save(top / name / f"image_{n:04d}.png", rgb(rng))
    save(top / "accordion" / "image_0004.png", rng.integers(0, 256, (7, 9), dtype=np.uint8))
    (top / "accordion" / "notes.txt").write_text("not an image")
    return tmp_path


def test_caltech101_maps_onto_ncaltech101_classes_by_name(caltech):
    images = load_caltech101(caltech, strict=False)
    assert images.classes == list(NCALTECH101_CLASSES)
    assert len(images.classes) == 101 and "Faces" not in images.classes
    assert images.classes[:4] == ["BACKGROUND_Google", "Faces_easy", "Leopards", "Motorbikes"]
    assert images.names == [
        "BACKGROUND_Google/image_0001.png",
        "Faces_easy/image_0001.png",
        "Faces_easy/image_0002.png",
        "accordion/image_0001.png",
        "accordion/image_0002.png",
        "accordion/image_0003.png",
        "accordion/image_0004.png",
        "yin_yang/image_0009.png",
        "yin_yang/image_0010.png",
    ]
    yin_yang = NCALTECH101_CLASSES.index("yin_yang")
    assert images.labels.tolist() == [0, 1, 1, 4, 4, 4, 4, yin_yang, yin_yang]
    assert yin_yang == 100
    counts = images.class_counts()
    assert counts[0] == 1 and counts[2] == 0 and counts.sum() == 9
    assert not images.in_memory
    assert images.image(3).shape == (12, 10, 3) and images.image(3).dtype == np.uint8
    assert images.image(6).shape == (7, 9)  # a gray picture stays gray
    image, label = images[0]
    assert label == 0 and np.array_equal(image, np.asarray(Image.open(images.paths[0])))


def test_caltech101_without_background_folder_keeps_the_label_space(caltech):
    import shutil

    shutil.rmtree(caltech / "101_ObjectCategories" / "BACKGROUND_Google")
    images = load_caltech101(caltech, strict=False)
    assert images.classes[0] == "BACKGROUND_Google"
    assert images.class_counts()[0] == 0
    assert images.labels.min() == 1


def test_caltech101_strict_names_the_missing_classes(caltech):
    with pytest.raises(DatasetError) as info:
        load_caltech101(caltech)
    message = str(info.value)
    assert "97 of 101 classes have no images" in message
    assert "Leopards" in message and "strict=False" in message


def test_caltech101_folder_classes_and_explicit_list(caltech):
    folders = load_caltech101(caltech, classes="folders")
    assert folders.classes == ["BACKGROUND_Google", "Faces", "Faces_easy", "accordion", "yin_yang"]
    assert len(folders) == 11
    chosen = load_caltech101(caltech, classes=["yin_yang", "Faces"])
    assert chosen.classes == ["yin_yang", "Faces"]
    assert chosen.labels.tolist() == [0, 0, 1, 1]
    assert chosen.names[2] == "Faces/image_0001.png"


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_caltech101_accepts_other_roots(tmp_path, rng, layout):
    top = tmp_path if layout == "flat" else tmp_path / "caltech101" / "101_ObjectCategories"
    save(top / "ant" / "image_0001.jpg", rgb(rng))
    images = load_caltech101(tmp_path, classes="folders")
    assert images.classes == ["ant"] and len(images) == 1


def test_caltech101_missing_root_prints_the_layout(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_caltech101(tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message and "does not exist" in message
    assert "101_ObjectCategories/<class>/image_0001.jpg" in message
    assert "nothing is downloaded" in message


def test_damaged_image_file_names_the_file(tmp_path, rng):
    save(tmp_path / "ant" / "image_0001.jpg", rgb(rng))
    (tmp_path / "ant" / "image_0002.jpg").write_bytes(b"\xff\xd8 broken")
    images = load_caltech101(tmp_path, classes="folders")
    with pytest.raises(DatasetError, match="image_0002.jpg: cannot read"):
        images.image(1)


def test_subset_keeps_classes_and_attributes(caltech):
    images = load_caltech101(caltech, strict=False)
    part = images.subset([8, 0])
    assert part.names == ["yin_yang/image_0010.png", "BACKGROUND_Google/image_0001.png"]
    assert part.labels.tolist() == [100, 0] and part.classes == images.classes
    assert np.array_equal(part.image(1), images.image(0))
    assert len(images.subset(images.labels == 4)) == 4
    assert images.indices_of(1).tolist() == [1, 2]


# --- Omniglot ---------------------------------------------------------------------------


@pytest.fixture
def omniglot(tmp_path) -> Path:
    tree = {
        "images_background": {"Latin": ["character02", "character01"], "Greek": ["character01"]},
        "images_evaluation": {"Kannada": ["character01"]},
    }
    for top, alphabets in tree.items():
        for alphabet, characters in alphabets.items():
            for character in characters:
                for drawer in (3, 1, 2):
                    stroke = np.full((6, 6), 255, np.uint8)
                    stroke[2:4, 1:5] = 0
                    save(
                        tmp_path
                        / "omniglot-py"
                        / top
                        / alphabet
                        / character
                        / f"07_{drawer:02d}.png",
                        stroke,
                    )
    return tmp_path


def test_omniglot_sorted_by_alphabet_character_drawer(omniglot):
    images = load_omniglot(omniglot)
    assert images.classes == [
        "Greek/character01",
        "Latin/character01",
        "Latin/character02",
        "Kannada/character01",
    ]
    assert images.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert images.names[:3] == [
        "images_background/Greek/character01/07_01.png",
        "images_background/Greek/character01/07_02.png",
        "images_background/Greek/character01/07_03.png",
    ]
    assert images.attributes["drawer"].tolist() == [0, 1, 2] * 4
    assert images.attributes["set"].tolist() == [0] * 9 + [1] * 3
    image = images.image(0)
    assert image.shape == (6, 6) and image[0, 0] == 255 and image[2, 2] == 0  # not inverted
    firsts = images.subset(images.attributes["drawer"] < 2)
    assert firsts.attributes["drawer"].tolist() == [0, 1] * 4


def test_omniglot_one_set_and_missing_set(omniglot):
    assert len(load_omniglot(omniglot, sets=("evaluation",)).classes) == 1
    import shutil

    shutil.rmtree(omniglot / "omniglot-py" / "images_evaluation")
    with pytest.raises(DatasetError, match="images_evaluation does not exist"):
        load_omniglot(omniglot)


# --- CEP-DVS images ---------------------------------------------------------------------


@pytest.fixture
def cepdvs(tmp_path, rng) -> Path:
    for n in (10, 2, 0, 1):
        save(tmp_path / "data" / "img" / f"{n}.png", rgb(rng))
    rows = ["index path a b class"] + [
        f"{i} rec{i} x y {CEPDVS_CLASSES[(3 * i) % 20]} extra" for i in range(12)
    ]
    (tmp_path / "pathFile.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_cepdvs_numeric_order_and_labels_from_path_file(cepdvs):
    images = load_cepdvs_images(cepdvs)
    assert images.names == ["0.png", "1.png", "2.png", "10.png"]
    assert images.labels.tolist() == [0, 3, 6, 10]
    assert images.classes == list(CEPDVS_CLASSES) and len(images.classes) == 20
    assert images.image(3).shape == (12, 10, 3)


def test_cepdvs_explicit_labels(cepdvs):
    by_number = load_cepdvs_images(cepdvs, labels={0: 5, 1: "fish", 2: 7, 10: 19})
    assert by_number.labels.tolist() == [5, 1, 7, 19]
    in_order = load_cepdvs_images(cepdvs, labels=["trees", 2, 3, 4])
    assert in_order.labels.tolist() == [17, 2, 3, 4]
    # String order of the names 0, 1, 2, 10 is 0, 1, 10, 2.
    lexicographic = load_cepdvs_images(cepdvs, labels=[0, 1, 10, 2], labels_order="lexicographic")
    assert lexicographic.labels.tolist() == [0, 1, 2, 10]


def test_cepdvs_errors(cepdvs, tmp_path):
    with pytest.raises(DatasetError, match="unknown class 'whales'"):
        load_cepdvs_images(cepdvs, labels=["whales", 1, 2, 3])
    with pytest.raises(DatasetError, match="3 labels for 4 images"):
        load_cepdvs_images(cepdvs, labels=[1, 2, 3])
    (cepdvs / "pathFile.csv").unlink()
    with pytest.raises(DatasetError, match="labels="):
        load_cepdvs_images(cepdvs)
    with pytest.raises(DatasetError, match="does not exist"):
        load_cepdvs_images(tmp_path / "missing")


# --- IDX (MNIST, Fashion-MNIST) and scikit-learn digits ----------------------------------


@pytest.fixture
def digits_arrays(rng):
    return rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([3, 0, 9, 1, 3], np.uint8)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("where", [".", "raw", "MNIST/raw"])
def test_mnist_plain_and_gzip_in_each_layout(tmp_path, digits_arrays, gz, where):
    images, labels = digits_arrays
    write_idx_pair(tmp_path / where, "train", images, labels, gz=gz)
    data = load_mnist(tmp_path)
    assert data.in_memory and len(data) == 5
    assert np.array_equal(data.arrays, images) and data.labels.tolist() == [3, 0, 9, 1, 3]
    assert data.classes == list(MNIST_CLASSES) and data.classes[3] == "3 - three"
    assert data.names == [f"train/{i:05d}" for i in range(5)]
    assert data.image(2).dtype == np.uint8 and data.image(2).shape == (28, 28)


def test_fashion_mnist_test_split_and_class_names(tmp_path, digits_arrays):
    images, labels = digits_arrays
    write_idx_pair(tmp_path, "t10k", images[:2], labels[:2], gz=True)
    data = load_fashion_mnist(tmp_path, split="test")
    assert data.classes == list(FASHION_MNIST_CLASSES)
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert data.labels.tolist() == [3, 0] and data.names == ["test/00000", "test/00001"]
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):
        load_fashion_mnist(tmp_path, split="train")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_names_the_file(tmp_path, digits_arrays, gz):
    images, labels = digits_arrays
    data = idx_bytes(images)[:-100]
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DatasetError) as info:
        load_mnist(tmp_path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


def test_broken_gzip_stream(tmp_path, digits_arrays):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(digits_arrays[0]))[:-30])
    with pytest.raises(DatasetError, match=r"x\.gz: broken gzip stream"):
        read_idx(path)


def test_idx_header_checks(tmp_path, digits_arrays):
    images, labels = digits_arrays
    path = tmp_path / "f"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DatasetError, match="truncated IDX header"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(path)
    path.write_bytes(idx_bytes(labels))
    with pytest.raises(DatasetError, match="announces 1 dimensions, expected 3"):
        read_idx(path, ndim=3)
    path.write_bytes(idx_bytes(labels) + b"\x00")
    with pytest.raises(DatasetError, match="trailing bytes"):
        read_idx(path)
    wide = np.array([[1, -2, 300]], np.int16)
    path.write_bytes(
        bytes([0, 0, 0x0B, 2])
        + np.array(wide.shape, ">u4").tobytes()
        + wide.astype(">i2").tobytes()
    )
    assert read_idx(path).tolist() == [[1, -2, 300]]


def test_mnist_pair_consistency(tmp_path, digits_arrays):
    images, labels = digits_arrays
    write_idx_pair(tmp_path, "train", images, labels[:4], gz=False)
    with pytest.raises(DatasetError, match="5 images but .* 4 labels"):
        load_mnist(tmp_path)
    write_idx_pair(tmp_path, "train", images, np.array([1, 2, 3, 4, 12]), gz=False)
    with pytest.raises(DatasetError, match="label 12 outside 0-9"):
        load_mnist(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_mnist(tmp_path / "missing")


def test_scikit_learn_digits_upsampled_like_mnist():
    from sklearn.datasets import load_digits as sklearn_digits

    reference = sklearn_digits()
    digits = load_digits()
    assert digits.arrays.shape == (1797, 28, 28) and digits.arrays.dtype == np.uint8
    assert np.array_equal(digits.labels, reference.target)
    assert digits.classes == list(MNIST_CLASSES)
    frame = np.ones((28, 28), bool)
    frame[4:24, 4:24] = False
    assert not digits.arrays[:, frame].any()  # the 20x20 box sits on a black 4-pixel border
    assert digits.arrays.max() == 255
    same = load_digits(size=8, box=8)  # no resampling: exactly value / 16 * 255
    assert np.array_equal(same.arrays, np.rint(reference.images / 16 * 255).astype(np.uint8))


# --- conversion to SNN input ------------------------------------------------------------


def known_pixel_image() -> np.ndarray:
    image = np.zeros((4, 5, 3), np.uint8)
    image[1, 2] = (10, 200, 30)
    image[3, 4] = (250, 5, 90)
    return image


def test_v_channel_on_known_pixels_and_tiling():
    out = to_snn_input(known_pixel_image(), size=(4, 5), time_steps=3)
    assert out.shape == (3, 2, 4, 5) and out.dtype == np.float32 and out.flags.c_contiguous
    assert out[0, 0, 1, 2] == np.float32(200 / 255)
    assert out[0, 0, 3, 4] == np.float32(250 / 255)
    assert out[0, 0, 0, 0] == 0
    assert (out == out[:1, :1]).all()  # every step and both polarities identical


def test_blue_and_gray_channels():
    image = known_pixel_image()
    blue = to_snn_input(image, size=(4, 5), time_steps=1, channel="blue")
    assert blue[0, 1, 1, 2] == np.float32(30 / 255) and blue[0, 0, 3, 4] == np.float32(90 / 255)
    gray = to_snn_input(image, size=(4, 5), time_steps=1, channel="gray")
    assert gray[0, 0, 1, 2] == pytest.approx((0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255)
    plain = np.array([[0, 51], [255, 102]], np.uint8)  # a gray image: the same for all three
    for channel in ("v", "gray", "blue"):
        assert np.array_equal(image_channel(plain, channel), plain / np.float32(255))


def test_resize_matches_torchvision_resize_on_pil(rng):
    from torchvision.transforms import Resize

    picture = rgb(rng, 101, 77)
    ours = to_snn_input(picture, size=(48, 48), time_steps=2)
    theirs = np.asarray(Resize((48, 48))(Image.fromarray(picture))).max(axis=2) / np.float32(255)
    assert np.array_equal(ours[1, 1], theirs.astype(np.float32))
    gray = rng.integers(0, 256, (105, 105), dtype=np.uint8)  # the Omniglot route
    theirs = np.asarray(Resize((28, 28))(Image.fromarray(gray))) / np.float32(255)
    assert np.array_equal(to_snn_input(gray, size=(28, 28), time_steps=1)[0, 0], theirs)


def test_channel_first_order_and_float_input(rng):
    y, x = np.mgrid[0:60, 0:50] / 60.0
    smooth = np.stack([np.sin(3 * x) ** 2, np.cos(2 * y) ** 2, x * y], axis=2)
    picture = np.rint(smooth * 255).astype(np.uint8)
    first = to_snn_input(picture, size=(48, 48), time_steps=1, order="channel_first")
    second = to_snn_input(picture, size=(48, 48), time_steps=1)
    assert first.shape == second.shape and 0 < np.abs(first - second).max() < 0.02
    floats = picture / np.float32(255)
    assert np.allclose(to_snn_input(floats, size=(60, 50), time_steps=1)[0, 0], floats.max(axis=2))


def test_scale_and_target_mean(rng):
    picture = rgb(rng)
    base = to_snn_input(picture, size=(8, 8), time_steps=2)
    assert np.allclose(to_snn_input(picture, size=(8, 8), time_steps=2, scale=3.0), 3 * base)
    matched = to_snn_input(picture, size=(8, 8), time_steps=2, target_mean=2.5)
    assert matched[0, 0].mean() == pytest.approx(2.5, rel=1e-5)
    assert np.allclose(matched / matched.max(), base / base.max(), atol=1e-6)
    black = to_snn_input(np.zeros((4, 4), np.uint8), size=(4, 4), time_steps=1, target_mean=1.0)
    assert not black.any()


def test_spec_is_a_hashable_validated_value():
    spec = StaticInputSpec(size=[48, 48], time_steps=10)
    assert spec.size == (48, 48) and hash(spec) == hash(StaticInputSpec())
    assert spec.fingerprint() == StaticInputSpec().fingerprint()
    assert spec.fingerprint() != StaticInputSpec(channel="blue").fingerprint()
    assert StaticInputSpec(scale=2).fingerprint() == StaticInputSpec(scale=2.0).fingerprint()
    assert spec.fields()["channel"] == "v"
    with pytest.raises(AttributeError):
        spec.channel = "gray"
    for bad in (
        {"channel": "red"},
        {"size": (0, 4)},
        {"order": "x"},
        {"scale": 2.0, "target_mean": 1.0},
    ):
        with pytest.raises(ConfigError):
            StaticInputSpec(**bad)


def test_batch_helpers(rng):
    spec = StaticInputSpec(size=(6, 7), time_steps=4)
    pictures = [rgb(rng, 12, 10), rgb(rng, 20, 9)]
    batch = to_snn_batch(pictures, spec)
    assert batch.shape == (2, 4, 2, 6, 7)
    assert np.array_equal(batch[1], spec(pictures[1]))
    source = StaticImages(
        labels=[0, 1],
        classes=["a", "b"],
        names=["p", "q"],
        arrays=np.stack([pictures[0], pictures[0]]),
    )
    planes = static_channels(source, spec)
    assert planes.shape == (2, 6, 7) and np.array_equal(
        tile_time(planes, 4), to_snn_batch([pictures[0]] * 2, spec)
    )


def test_tile_time_on_torch_is_a_view():
    import torch

    planes = torch.rand(3, 5, 6)
    tiled = tile_time(planes, 7)
    assert tuple(tiled.shape) == (3, 7, 2, 5, 6)
    assert tiled.data_ptr() == planes.data_ptr() and torch.equal(tiled[:, 6, 1], planes)


def test_static_and_emulate_import_without_heavy_modules():
    code = (
        "import sys, snn_transfer.events.static, snn_transfer.events.saccades;"
        "print([m for m in ('torch', 'torchvision', 'PIL', 'sklearn', 'tonic') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
