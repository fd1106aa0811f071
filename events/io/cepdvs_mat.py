"""CEP-DVS ``.mat`` recordings (MATLAB v5 or v7.3): x, y, ts, p variables.

Not in ``events.io.FORMATS``: a ``.mat`` file has no header that says it holds events, so
only the CEP-DVS lister names this format (:data:`MAT_FORMAT`) for its recordings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE

#: the format name the recorded datasets' reader dispatches on
MAT_FORMAT = "cepdvs-mat"


def read_mat_events(path: str | Path) -> np.ndarray:
    """A CEP-DVS ``.mat`` recording as ``EVENT_DTYPE`` events, time-sorted.

    Assumed content (BrainCog's reader): variables ``x``, ``y``, ``ts`` (microseconds) and
    ``p`` in {-1, 1} (or {0, 1}); MATLAB v5 files through scipy, v7.3 (HDF5) through h5py.
    Events out of time order are sorted (stable).
    """
    path = Path(path)
    try:
        from scipy.io import loadmat

        data = loadmat(path, verify_compressed_data_integrity=False)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        import h5py

        with h5py.File(path, "r") as file:
            data = {k: np.asarray(file[k]) for k in file if isinstance(file[k], h5py.Dataset)}
    except FileNotFoundError:
        raise EventFormatError("no such file (check the path)", path=path) from None
    except Exception as error:
        raise EventFormatError(f"cannot read this .mat file ({error})", path=path) from None
    missing = [k for k in ("x", "y", "ts", "p") if k not in data]
    if missing:
        raise EventFormatError(
            f"variables {missing} missing; a CEP-DVS recording holds x, y, ts and p", path=path
        )
    columns = {k: np.asarray(data[k]).reshape(-1) for k in ("x", "y", "ts", "p")}
    sizes = {k: len(v) for k, v in columns.items()}
    if len(set(sizes.values())) != 1:
        raise EventFormatError(f"variables of different lengths {sizes}", path=path)
    events = np.empty(sizes["x"], EVENT_DTYPE)
    for name, key in (("x", "x"), ("y", "y"), ("t", "ts")):
        values = columns[key].astype(np.int64)
        if values.size and values.min() < 0:
            raise EventFormatError(f"negative {key} = {int(values.min())}", path=path)
        if name != "t" and values.size and values.max() > np.iinfo(np.int16).max:
            raise EventFormatError(f"{key} = {int(values.max())} is too large", path=path)
        events[name] = values
    events["p"] = columns["p"] > 0
    if len(events) > 1 and bool(np.any(np.diff(events["t"]) < 0)):
        events = events[np.argsort(events["t"], kind="stable")]
    return events
