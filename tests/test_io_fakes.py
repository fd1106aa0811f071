"""Small fake recordings in every native layout, shared by the io tests.

The fakes are written by our own writers, or, for formats the package only reads, by the
test-side writers in ``native_layouts``; other tests check them against Tonic's,
expelliarmus' and SpikingJelly's readers, so a writer that drifts from the real layout
fails there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from native_layouts import READ_ONLY_WRITERS

from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import write_events

# format -> (file name, sensor size, timestamp unit in us that the format stores exactly)
FAKES = {
    "atis": ("fake.bin", (34, 34, 2), 1),
    "aedat4": ("fake.aedat4", (128, 128, 2), 1),
    "aedat2": ("fake.aedat", (128, 128, 2), 1),
    "gesture-npy": ("fake.npy", (128, 128, 2), 1000),
    "hdf5": ("fake.h5", (240, 180, 2), 1),
    "prophesee-dat": ("fake.dat", (304, 240, 2), 1),
    "evt2": ("fake_evt2.raw", (640, 480, 2), 1),
    "evt3": ("fake_evt3.raw", (1280, 720, 2), 1),
    "stmnist-mat": ("fake.mat", (10, 10, 2), 1),
}
# the formats our own writers write (the others: test-side writers of the real layout)
WRITTEN = tuple(f for f in FAKES if f not in READ_ONLY_WRITERS)


def random_events(
    rng: np.random.Generator,
    n: int,
    sensor_size: tuple[int, int, int],
    *,
    t_max: int = 300_000,
    t_unit: int = 1,
) -> np.ndarray:
    """``n`` time-sorted ``EVENT_DTYPE`` events uniformly inside ``sensor_size``."""
    width, height, polarities = sensor_size
    t = np.sort(rng.integers(0, t_max // t_unit, n)) * t_unit
    return make_events(
        rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, polarities, n)
    )


def write_fake(
    directory: Path, format: str, rng: np.random.Generator, n: int = 500
) -> tuple[Path, np.ndarray]:
    """Write ``n`` random events in ``format`` under ``directory``; return path and events."""
    name, sensor, unit = FAKES[format]
    events = random_events(rng, n, sensor, t_unit=unit)
    path = directory / name
    if format in READ_ONLY_WRITERS:
        READ_ONLY_WRITERS[format](path, events, sensor)
    else:
        write_events(path, events, format, sensor)
    return path, events


def test_random_events_are_sorted_and_inside_the_sensor(rng):
    events = random_events(rng, 1000, (34, 20, 2), t_unit=1000)
    assert events.dtype == EVENT_DTYPE
    assert events["x"].max() == 33 and events["y"].max() == 19
    assert set(np.unique(events["p"])) == {0, 1}
    assert np.all(np.diff(events["t"]) >= 0)
    assert np.all(events["t"] % 1000 == 0)


def test_write_fake_round_trips_through_the_registry(tmp_path, rng):
    from snn_transfer.events.io import read_events

    for format in FAKES:
        path, events = write_fake(tmp_path, format, rng, n=50)
        recording = read_events(path)
        assert recording.format == format
        np.testing.assert_array_equal(recording.events, events)
