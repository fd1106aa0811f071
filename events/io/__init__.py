"""Event-file readers and writers.

Every reader returns events as ``EVENT_DTYPE`` (x, y int16; t int64 microseconds; p int8
in {0, 1}), time-sorted and checked against the sensor size; anything malformed raises
``EventFormatError`` naming the file and the byte offset or event index. A missing file
raises ``EventFileNotFoundError``, which is both an ``EventFormatError`` and a
``FileNotFoundError``.

Generic entry points go through the ``FORMATS`` registry:

* ``read_events(path, format=None, *, sensor_size=None) -> EventRecording``
* ``iter_events(path, format=None, chunk_size=..., *, sensor_size=None)``: bounded chunks
* ``write_events(path, events, format, sensor_size=None)``
* ``detect_format(path)``, ``describe(path, format=None)``

Formats: ``atis`` (N-MNIST / N-Caltech101 ``.bin``), ``aedat4`` (``.aedat4``), ``aedat2``
(jAER ``.aedat``: DVS128 as in the original CIFAR10-DVS, DAVIS polarity events),
``gesture-npy`` (Tonic's DVS128 Gesture ``.npy``), ``hdf5`` (our own files; many labelled
streams: ``EventDataset`` / ``EventDatasetWriter``), and, read only, ``prophesee-dat``
(N-CARS ``.dat``), ``evt2`` / ``evt3`` (Prophesee ``.raw``), ``stmnist-mat`` (ST-MNIST
``.mat``).

Importing this package loads numpy only; ``aedat``, ``h5py`` and ``scipy`` are imported
when used.
"""

from snn_transfer.events.io.aedat2 import (
    Aedat2Header,
    iter_aedat2,
    read_aedat2,
    read_aedat2_header,
    write_aedat2,
)
from snn_transfer.events.io.aedat4 import (
    iter_aedat4,
    read_aedat4,
    read_aedat4_header,
    write_aedat4,
)
from snn_transfer.events.io.aedat4_layout import Aedat4Header
from snn_transfer.events.io.atis import decode_atis, encode_atis, iter_atis, read_atis, write_atis
from snn_transfer.events.io.base import EventFileNotFoundError, EventRecording
from snn_transfer.events.io.describe import describe
from snn_transfer.events.io.event_dataset import EventDataset, EventDatasetWriter
from snn_transfer.events.io.formats import (
    FORMATS,
    EventFormat,
    detect_format,
    get_format,
    iter_events,
    read_events,
    write_events,
)
from snn_transfer.events.io.gesture import iter_gesture_npy, read_gesture_npy, write_gesture_npy
from snn_transfer.events.io.hdf5 import iter_hdf5_events, read_hdf5_events, write_hdf5_events
from snn_transfer.events.io.mat import iter_stmnist_mat, read_stmnist_mat
from snn_transfer.events.io.prophesee_dat import iter_prophesee_dat, read_prophesee_dat
from snn_transfer.events.io.prophesee_raw import iter_evt2, iter_evt3, read_evt2, read_evt3

__all__ = [
    "FORMATS",
    "Aedat2Header",
    "Aedat4Header",
    "EventDataset",
    "EventDatasetWriter",
    "EventFileNotFoundError",
    "EventFormat",
    "EventRecording",
    "decode_atis",
    "describe",
    "detect_format",
    "encode_atis",
    "get_format",
    "iter_aedat2",
    "iter_aedat4",
    "iter_atis",
    "iter_events",
    "iter_evt2",
    "iter_evt3",
    "iter_gesture_npy",
    "iter_hdf5_events",
    "iter_prophesee_dat",
    "iter_stmnist_mat",
    "read_aedat2",
    "read_aedat2_header",
    "read_aedat4",
    "read_aedat4_header",
    "read_atis",
    "read_events",
    "read_evt2",
    "read_evt3",
    "read_gesture_npy",
    "read_hdf5_events",
    "read_prophesee_dat",
    "read_stmnist_mat",
    "write_aedat2",
    "write_aedat4",
    "write_atis",
    "write_events",
    "write_gesture_npy",
    "write_hdf5_events",
]
