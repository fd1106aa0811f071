"""Folder-based static image sets: Caltech101, Omniglot and the CEP-DVS source images.

Nothing is downloaded. Each loader looks only under the root it is given, sorts every
listing by name (so the order does not depend on the file system) and keeps file paths; the
pixels are read when an image is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .images import (
    StaticImages,
    image_files,
    layout_error,
    natural_key,
    subfolders,
)

# Caltech101's 97 lowercase categories, sorted; the full set also has BACKGROUND_Google,
# Faces, Faces_easy, Leopards and Motorbikes.
_CALTECH_LOWER_TEXT = """
accordion airplanes anchor ant barrel bass beaver binocular bonsai brain brontosaurus
buddha butterfly camera cannon car_side ceiling_fan cellphone chair chandelier cougar_body
cougar_face crab crayfish crocodile crocodile_head cup dalmatian dollar_bill dolphin
dragonfly electric_guitar elephant emu euphonium ewer ferry flamingo flamingo_head
garfield gerenuk gramophone grand_piano hawksbill headphone hedgehog helicopter ibis
inline_skate joshua_tree kangaroo ketch lamp laptop llama lobster lotus mandolin mayfly
menorah metronome minaret nautilus octopus okapi pagoda panda pigeon pizza platypus
pyramid revolver rhino rooster saxophone schooner scissors scorpion sea_horse snoopy
soccer_ball stapler starfish stegosaurus stop_sign strawberry sunflower tick trilobite
umbrella watch water_lilly wheelchair wild_cat windsor_chair wrench yin_yang
"""
_CALTECH_LOWER = _CALTECH_LOWER_TEXT.split()

#: N-Caltech101's 101 classes in its (sorted folder) order: no ``Faces``, class 0 is
#: ``BACKGROUND_Google``.
NCALTECH101_CLASSES: tuple[str, ...] = (
    "BACKGROUND_Google",
    "Faces_easy",
    "Leopards",
    "Motorbikes",
    *_CALTECH_LOWER,
)

#: CEP-DVS's 20 classes: the CIFAR-100 super-classes, index = CIFAR-100 coarse label.
CEPDVS_CLASSES: tuple[str, ...] = (
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
)

_CALTECH_LAYOUT = """\
  <root>/<class>/image_0001.jpg ...                            (one folder per class)
  or <root>/101_ObjectCategories/<class>/image_0001.jpg        (the Caltech101 archive)
  or <root>/caltech101/101_ObjectCategories/<class>/...        (torchvision's root)"""


def _caltech_folder(root: Path) -> Path:
    if not root.is_dir():
        raise layout_error(
            "Caltech101",
            f"folder {root} does not exist",
            _CALTECH_LAYOUT,
            "download and extract Caltech101 (101_ObjectCategories) yourself and pass its "
            "folder as root; nothing is downloaded automatically",
        )
    for candidate in (
        root / "101_ObjectCategories",
        root / "caltech101" / "101_ObjectCategories",
        root,
    ):
        if candidate.is_dir() and any(image_files(d) for d in subfolders(candidate)):
            return candidate
    raise layout_error(
        "Caltech101",
        f"no class folder with images under {root}",
        _CALTECH_LAYOUT,
        "point root at the folder that holds the class folders (or its parent)",
    )


def load_caltech101(
    root: str | Path,
    *,
    classes: str | Sequence[str] = "ncaltech101",
    strict: bool = True,
) -> StaticImages:
    """Caltech101 images, classes matched by folder name, files sorted by name.

    Args:
        root: a folder with one subfolder per class, or a parent of ``101_ObjectCategories``
            (also torchvision's ``<root>/caltech101/101_ObjectCategories``).
        classes: ``"ncaltech101"`` (default) maps onto :data:`NCALTECH101_CLASSES`: the event
            set's 101 classes, ``BACKGROUND_Google`` = 0 and no ``Faces`` (its folder is
            skipped); ``"folders"`` takes every class folder found, sorted; a list of names
            (e.g. the event dataset's ``classes``) takes exactly those, in that order.
        strict: if True, a listed class without a folder or without images raises
            ``DatasetError``; if False it stays in ``classes`` with no images.

    Returns:
        ``StaticImages`` read lazily from disk (``uint8 [H, W, 3]``, or ``[H, W]`` for the
        gray pictures), names ``"<class>/<file>"``, ordered by class then file name.
    """
    folder = _caltech_folder(Path(root))
    found = {d.name: d for d in subfolders(folder)}
    if isinstance(classes, str):
        if classes == "ncaltech101":
            names = list(NCALTECH101_CLASSES)
        elif classes == "folders":
            names = sorted(found)
        else:
            raise ValueError(f"classes must be 'ncaltech101', 'folders' or a list, not {classes!r}")
    else:
        names = list(classes)
    paths, labels, ids, empty = [], [], [], []
    for label, name in enumerate(names):
        files = image_files(found[name]) if name in found else []
        if not files:
            empty.append(name)
        paths += files
        labels += [label] * len(files)
        ids += [f"{name}/{f.name}" for f in files]
    if empty and strict:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        raise layout_error(
            "Caltech101",
            f"{len(empty)} of {len(names)} classes have no images under {folder}: {shown}",
            _CALTECH_LAYOUT,
            "add the missing class folders, or pass strict=False to keep those classes "
            "empty, or pass classes='folders' to use only the folders present",
        )
    return StaticImages(
        labels=labels, classes=names, names=ids, paths=paths, source=f"Caltech101 at {folder}"
    )


_OMNIGLOT_LAYOUT = """\
  <root>/images_background/<alphabet>/<character>/<drawing>.png
  <root>/images_evaluation/<alphabet>/<character>/<drawing>.png
  (or the same under <root>/omniglot-py/, torchvision's root)"""

OMNIGLOT_SETS = ("background", "evaluation")


def load_omniglot(root: str | Path, *, sets: Sequence[str] = OMNIGLOT_SETS) -> StaticImages:
    """Omniglot drawings (torchvision's folder layout), one class per character.

    Alphabets, characters and drawing files are each sorted by name; the label is the
    character's index over the requested sets in order (background: 964 characters, then
    evaluation: 659, 1,623 in all), matching N-Omniglot's numbering.

    Returns:
        ``StaticImages`` read lazily (``uint8 [105, 105]``, white background = 255, strokes
        = 0, not inverted), classes ``"<alphabet>/<character>"``, names
        ``"images_<set>/<alphabet>/<character>/<file>"``, and ``attributes["drawer"]``: the
        position of the drawing within its character (0-19), ``attributes["set"]``: the
        index of its set in ``sets``.
    """
    root = Path(root)
    base = root / "omniglot-py" if (root / "omniglot-py").is_dir() else root
    paths, labels, ids, classes, drawer, which = [], [], [], [], [], []
    for set_index, name in enumerate(sets):
        if name not in OMNIGLOT_SETS:
            raise ValueError(f"Omniglot sets are {OMNIGLOT_SETS}, not {name!r}")
        folder = base / f"images_{name}"
        if not folder.is_dir():
            raise layout_error(
                "Omniglot",
                f"folder {folder} does not exist",
                _OMNIGLOT_LAYOUT,
                "extract images_background.zip and images_evaluation.zip into root yourself; "
                "nothing is downloaded automatically",
            )
        for alphabet in subfolders(folder):
            for character in sorted(subfolders(alphabet), key=lambda p: natural_key(p.name)):
                files = sorted(
                    (f for f in image_files(character) if f.suffix.lower() == ".png"),
                    key=lambda f: natural_key(f.name),
                )
                label = len(classes)
                classes.append(f"{alphabet.name}/{character.name}")
                paths += files
                labels += [label] * len(files)
                ids += [f"{folder.name}/{alphabet.name}/{character.name}/{f.name}" for f in files]
                drawer += range(len(files))
                which += [set_index] * len(files)
    if not paths:
        raise layout_error(
            "Omniglot", f"no .png drawings under {base}", _OMNIGLOT_LAYOUT, "check root"
        )
    return StaticImages(
        labels=labels,
        classes=classes,
        names=ids,
        paths=paths,
        attributes={"drawer": np.array(drawer, np.int64), "set": np.array(which, np.int64)},
        source=f"Omniglot at {base}",
    )


_CEPDVS_LAYOUT = """\
  <root>/data/img/<n>.jpg   (or <root>/img/<n>.jpg, or <root>/<n>.jpg; any image suffix;
                             n = the sample number, zero padding allowed)
  <root>/pathFile.csv       (one header line, then one line per sample: line n after the
                             header describes sample n; its 5th whitespace-separated token
                             is the CIFAR-100 super-class) -- or pass labels=..."""

_NUMBERED = re.compile(r"^(\d+)$")


def load_cepdvs_images(
    root: str | Path,
    *,
    labels: Sequence[int | str] | Mapping[int, int | str] | None = None,
    labels_order: str = "numeric",
) -> StaticImages:
    """The RGB images CEP-DVS was recorded from, labelled with its 20 super-classes.

    Assumed layout (the dataset is not public in a documented form; this follows BrainCog's
    CEP-DVS reader): image files named by their sample number ``n`` in ``root/data/img``,
    ``root/img`` or ``root``, sorted by the number's value, not as strings. Labels come from

    * ``labels``: one label per image in numeric order (ints or super-class names), or a
      mapping ``{n: label}``;
    * otherwise ``root/pathFile.csv`` (or ``root/data/pathFile.csv``): after one header line,
      line ``n`` (0-based) belongs to sample ``n`` and its 5th whitespace-separated token is
      the super-class name.

    ``labels_order="lexicographic"`` says that a label sequence follows the string order of
    the file names (``1, 10, 100, 1000, 1001, ...``), as the pickled ``targets.pkl`` of
    BrainCog's reader does (it sorted ``.mat`` names as strings); the labels are then put
    back into numeric order instead of being silently misaligned.

    Returns:
        ``StaticImages`` read lazily (``uint8 [H, W, 3]``), classes :data:`CEPDVS_CLASSES`,
        names = the file names.
    """
    root = Path(root)
    if not root.is_dir():
        raise layout_error(
            "CEP-DVS images",
            f"folder {root} does not exist",
            _CEPDVS_LAYOUT,
            "copy the CEP-DVS image folder there yourself; nothing is downloaded",
        )
    files: list[Path] = []
    for candidate in (root / "data" / "img", root / "img", root):
        if candidate.is_dir():
            files = [f for f in image_files(candidate) if _NUMBERED.match(f.stem)]
            if files:
                break
    if not files:
        raise layout_error(
            "CEP-DVS images",
            f"no numerically named image files under {root}",
            _CEPDVS_LAYOUT,
            "point root at the folder that holds data/img or the images",
        )
    numbers = [int(f.stem) for f in files]
    if len(set(numbers)) != len(numbers):
        raise layout_error(
            "CEP-DVS images",
            f"two image files under {files[0].parent} carry the same number",
            _CEPDVS_LAYOUT,
            "keep one file per sample number",
        )
    order = np.argsort(numbers, kind="stable")
    files = [files[i] for i in order]
    numbers = [numbers[i] for i in order]
    names = _cepdvs_labels(root, numbers, labels, labels_order)
    index = {name: i for i, name in enumerate(CEPDVS_CLASSES)}
    ints = []
    for n, label in zip(numbers, names, strict=True):
        if isinstance(label, str):
            if label not in index:
                raise layout_error(
                    "CEP-DVS images",
                    f"sample {n} has the unknown class {label!r}",
                    _CEPDVS_LAYOUT,
                    f"labels must be one of {', '.join(CEPDVS_CLASSES)} or 0-19",
                )
            label = index[label]
        if not 0 <= int(label) < len(CEPDVS_CLASSES):
            raise layout_error(
                "CEP-DVS images", f"sample {n} has label {label}", _CEPDVS_LAYOUT, "use 0-19"
            )
        ints.append(int(label))
    return StaticImages(
        labels=ints,
        classes=CEPDVS_CLASSES,
        names=[f.name for f in files],
        paths=files,
        source=f"CEP-DVS images at {files[0].parent}",
    )


def _cepdvs_labels(root: Path, numbers: list[int], labels, labels_order: str) -> list:
    if labels_order not in ("numeric", "lexicographic"):
        raise ValueError(f"labels_order must be 'numeric' or 'lexicographic', not {labels_order!r}")
    if isinstance(labels, Mapping):
        missing = [n for n in numbers if n not in labels]
        if missing:
            raise layout_error(
                "CEP-DVS images",
                f"no label for samples {missing[:10]}",
                _CEPDVS_LAYOUT,
                "give a label for every image number",
            )
        return [labels[n] for n in numbers]
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(numbers):
            raise layout_error(
                "CEP-DVS images",
                f"{len(labels)} labels for {len(numbers)} images",
                _CEPDVS_LAYOUT,
                "pass one label per image file",
            )
        if labels_order == "lexicographic":
            by_string = sorted(range(len(numbers)), key=lambda i: str(numbers[i]))
            remapped = [None] * len(numbers)
            for position, i in enumerate(by_string):
                remapped[i] = labels[position]
            return remapped
        return labels
    table = next(
        (p for p in (root / "pathFile.csv", root / "data" / "pathFile.csv") if p.exists()), None
    )
    if table is None:
        raise layout_error(
            "CEP-DVS images",
            f"no labels: {root / 'pathFile.csv'} does not exist and labels= was not given",
            _CEPDVS_LAYOUT,
            "put pathFile.csv into root or pass labels=",
        )
    lines = table.read_text(encoding="utf-8", errors="replace").splitlines()[1:]
    out = []
    for n in numbers:
        tokens = lines[n].split() if n < len(lines) else []
        if len(tokens) < 5:
            raise layout_error(
                "CEP-DVS images",
                f"{table}: line {n + 2} (sample {n}) "
                + ("is missing" if n >= len(lines) else "has fewer than 5 tokens"),
                _CEPDVS_LAYOUT,
                "check that pathFile.csv belongs to these images",
            )
        out.append(tokens[4])
    return out
