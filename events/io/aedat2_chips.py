"""The address layouts of the jAER chips whose AEDAT 2.0 recordings we decode.

An AEDAT 2.0 record is a 32-bit address and a timestamp; what the address means depends on
the chip, which jAER names in the header (``# AEChip: <Java class>``). Two families:

DVS128 (``ch.unizh.ini.jaer.chip.retina.DVS128``, ``Tmpdiff128``; also assumed when the
header names no chip, as in the original CIFAR10-DVS release)
    bit 0 polarity (0 = ON), bits 1-7 column, bits 8-14 row; higher bits ignored. Mapped
    exactly as SpikingJelly 2.0's CIFAR10-DVS loader does, so frames match what its users
    train on: ``x = 127 - row``, ``y = 127 - column``, ``p = 1 - bit0``. 128x128.
DAVIS (``eu.seebetter.ini.chips.davis.*``: ``Davis346red``/``B``/``blue``/``cBSI``/...
346x260, ``DAVIS240A``/``B``/``C`` 240x180, ``Davis640`` 640x480)
    bit 31 set: an APS (frame) sample or an IMU sample, skipped. Bit 31 clear: a DVS
    record; bits 10-11 equal to ``01`` mark an external-input (trigger) event, skipped;
    otherwise a polarity event with bit 11 polarity (1 = ON), bits 12-21 x, bits 22-30 y,
    which jAER counts from the right and from the bottom. We return ``x = W - 1 - x_raw``
    (as jAER) and ``y = H - 1 - y_raw`` (image rows from the top), as Tonic's
    ``read_davis_346`` does for the DAVIS346 (which, unlike us, also decodes the APS, IMU
    and trigger records as events).

Any other chip is refused: its addresses would be decoded wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_transfer.events.core import SensorSize

DVS128_NAMES = ("dvs128", "tmpdiff128")
DAVIS_SIZES = {"davis346": (346, 260), "davis240": (240, 180), "davis640": (640, 480)}
# prefixes of jAER class names with another layout or size despite the DAVIS346 name
NOT_DAVIS = ("davis346mini",)


@dataclass(frozen=True)
class AEChip:
    """One supported address layout.

    Attributes:
        name: the family (``"DVS128"``, ``"DAVIS346"``, ...).
        sensor_size: ``(W, H, 2)``.
        davis: whether addresses follow the DAVIS layout (else DVS128's).
    """

    name: str
    sensor_size: SensorSize
    davis: bool

    def decode(self, address: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(keep, x_raw, y_raw, p)`` for uint32 addresses: which records are polarity
        events, and their raw column, row and polarity (all records, unfiltered)."""
        if not self.davis:
            keep = np.ones(len(address), bool)
            return keep, (address >> 8) & 0x7F, (address >> 1) & 0x7F, 1 - (address & 1)
        dvs = (address & 0x80000000) == 0
        keep = dvs & ((address & 0xC00) != 0x400)
        return keep, (address >> 12) & 0x3FF, (address >> 22) & 0x1FF, (address >> 11) & 1

    def to_events_xy(self, x_raw: np.ndarray, y_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw column/row of kept records to image ``(x, y)``."""
        if not self.davis:  # SpikingJelly's CIFAR10-DVS mapping: row -> x, column -> y
            return 127 - x_raw, 127 - y_raw
        width, height, _ = self.sensor_size
        return width - 1 - x_raw, height - 1 - y_raw


DVS128 = AEChip("DVS128", (128, 128, 2), davis=False)


def chip_for(declared: str | None) -> AEChip | None:
    """The layout for the header's ``AEChip`` value (``None`` -> DVS128), or ``None`` if
    the chip is not supported."""
    if declared is None or any(n in declared.lower() for n in DVS128_NAMES):
        return DVS128
    simple = declared.strip().rsplit(".", 1)[-1].lower()
    if simple.startswith(NOT_DAVIS):
        return None
    for prefix, (width, height) in DAVIS_SIZES.items():
        if simple.startswith(prefix):
            return AEChip(prefix.upper(), (width, height, 2), davis=True)
    return None


def supported_chips() -> str:
    """One line naming the supported chips, for error messages."""
    davis = ", ".join(f"{k.upper()}* ({w}x{h})" for k, (w, h) in DAVIS_SIZES.items())
    return f"DVS128 / Tmpdiff128 (128x128), {davis}"
