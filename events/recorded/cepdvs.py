"""CEP-DVS: ``.mat`` recordings of 20 CIFAR-100 super-classes, + their source images.

The layout follows BrainCog's reader (the authors' code); the sensor size is not fixed, so
frames span each recording's own extent unless ``sensor_size=(W, H)`` is given. Split as
the reference code: per class, by sample number, the first 50 % train, the next 20 % test,
the remaining 30 % unused. Twins: recording ``<n>.mat`` shows image ``<n>``.
"""

from __future__ import annotations

from pathlib import Path

from snn_transfer.errors import ConfigError
from snn_transfer.events.framing.pipeline import standard_pipeline
from snn_transfer.events.io.cepdvs_mat import MAT_FORMAT
from snn_transfer.events.recorded.description import RecordedDataset, StaticSide, missing_root
from snn_transfer.events.recorded.files import EventFiles
from snn_transfer.events.recorded.listing import first_base, sorted_files
from snn_transfer.events.recorded.loader import register_recorded
from snn_transfer.events.splits import per_class_parts
from snn_transfer.events.static import CEPDVS_CLASSES, load_cepdvs_images
from snn_transfer.events.static.images import StaticImages

CEPDVS_LAYOUT = """\
  <root>/data/MAT/img/<n>.mat   one recording per sample n (variables x, y, ts in us, p in {-1, 1})
  <root>/pathFile.csv           one header line, then line n describes sample n; its 5th
                                whitespace-separated token is the CIFAR-100 super-class
  <root>/data/img/<n>.<jpg|png> the source images (the static side; static_root defaults to root)
  (assumed from BrainCog's CEP-DVS reader; the sensor size is not fixed: frames span each
  recording's own extent unless sensor_size=(W, H) is given)"""


def _cepdvs_table(root: Path) -> list[str]:
    for table in (root / "pathFile.csv", root / "data" / "pathFile.csv"):
        if table.is_file():
            return table.read_text(encoding="utf-8", errors="replace").splitlines()[1:]
    raise missing_root("cep-dvs", root, CEPDVS_LAYOUT, "pathFile.csv not found")


def cepdvs_samples(root: Path, sensor_size=None) -> EventFiles:
    folder = first_base(
        root,
        [root / "data" / "MAT" / "img", root / "MAT" / "img", root / "data" / "MAT", root / "mat"],
        lambda d: bool(sorted_files(d, (".mat",))),
    )
    if folder is None:
        raise missing_root("cep-dvs", root, CEPDVS_LAYOUT, "no .mat recordings found")
    lines = _cepdvs_table(root)
    index = {c: i for i, c in enumerate(CEPDVS_CLASSES)}
    files = [f for f in sorted_files(folder, (".mat",)) if f.stem.isascii() and f.stem.isdigit()]
    files.sort(key=lambda f: int(f.stem))
    labels = []
    for f in files:
        n = int(f.stem)
        tokens = lines[n].split() if n < len(lines) else []
        if len(tokens) < 5 or tokens[4] not in index:
            raise missing_root(
                "cep-dvs", root, CEPDVS_LAYOUT,
                f"pathFile.csv line {n + 2} (sample {n}) has no known super-class as 5th token",
            )  # fmt: skip
        labels.append(index[tokens[4]])
    splits = per_class_parts(
        labels, lambda n: [round(0.5 * n), round(0.2 * n)], ("train", "test", "unused")
    )
    sensor = None
    if sensor_size is not None:
        if len(sensor_size) not in (2, 3):
            raise ConfigError(f"sensor_size = {sensor_size!r} must be (W, H)")
        sensor = (int(sensor_size[0]), int(sensor_size[1]), 2)
    return EventFiles(
        root,
        [str(f.relative_to(root)) for f in files],
        labels,
        [f.name for f in files],
        splits,
        CEPDVS_CLASSES,
        sensor,
        MAT_FORMAT,
    )


def _load_cepdvs_images(static_root: Path, classes: tuple[str, ...]) -> StaticImages:
    return load_cepdvs_images(static_root)


CEPDVS = register_recorded(
    RecordedDataset(
        name="cep-dvs",
        summary="CEP-DVS (.mat recordings, 20 CIFAR-100 super-classes) + its source images",
        layout=CEPDVS_LAYOUT,
        list_samples=cepdvs_samples,
        pipeline=standard_pipeline(),
        split_rule="as the reference code: per class, by sample number, the first 50 % train "
        "(250 of 500), the next 20 % test (100), the remaining 30 % unused",
        time_steps=6,
        size=48,
        augment=("crop", "flip", "rotate"),
        static=StaticSide(
            what="CEP-DVS images",
            load=_load_cepdvs_images,
            event_key=lambda name: str(int(name.split(".")[0])),
            static_key=lambda images, i: str(int(images.names[i].split(".")[0])),
            order="channel_first",
            root_default=True,
        ),
        extra={"sensor_size": None},
    )
)
