"""The reference implementation's framings, for runs that compare with its numbers.

* :class:`PaperFrames`: N-Caltech101 and CEP-DVS as the reference frames them (shifted
  coordinates, an inferred sensor, half-open bins that drop the last events, a resize with
  ``align_corners=True``).
* :class:`FrequencyFrames`: the reference's N-Omniglot frames (event rates per bin,
  max-normalised, cropped and resized).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.checks import positive_int, size_pair
from snn_transfer.events.core import as_events
from snn_transfer.events.framing.counting import accumulate, check_stream
from snn_transfer.events.spec import Spec
from snn_transfer.events.transforms import resize


@dataclass(frozen=True)
class PaperFrames(Spec):
    """The reference implementation's framing, for runs that compare with its numbers.

    Per sample: x and y shifted to start at 0 (``shift_xy``, as for N-Caltech101); sensor
    size inferred as ``(max x + 1, max y + 1, 2)``; ``n_time_bins`` half-open bins of
    ``window`` microseconds starting at the first timestamp; raw counts per polarity; then
    bilinear resize to ``size`` (H, W) with ``align_corners=True`` and T as the batch axis.

    ``window`` is ``(t_last - t_first) // T``, i.e. timestamps shifted to start at 0 first.
    The reference's Tonic fork computes ``t_last // T`` on the raw timestamps
    (``slice_by_time_bins``: ``times[-1] // bin_count``, bins from ``times[0]``);
    ``fork_window=True`` does exactly that. Both agree when the first timestamp is 0.
    Either way events from ``t_first + T * window`` on are dropped, as the reference drops
    them, and streams shorter than T microseconds give empty frames. An empty stream gives
    zeros. Output float32 ``[T, 2, size[0], size[1]]``.
    """

    n_time_bins: int
    size: tuple[int, int] = (48, 48)
    shift_xy: bool = True
    fork_window: bool = False

    def __post_init__(self) -> None:
        steps = positive_int("PaperFrames: n_time_bins", self.n_time_bins)
        object.__setattr__(self, "n_time_bins", steps)
        object.__setattr__(self, "size", size_pair("PaperFrames: size", self.size))

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        return paper_frames(events, self, path=path)


def paper_frames(
    events: np.ndarray, spec: PaperFrames, *, path: object | None = None
) -> np.ndarray:
    """Frame one stream as the reference does (see ``PaperFrames``): float32 [T, 2, H, W]."""
    import torch
    import torch.nn.functional as F

    events = as_events(events)
    check_stream(events, (None, None, 2), path)
    n_bins = spec.n_time_bins
    if len(events) == 0:
        return np.zeros((n_bins, 2, *spec.size), np.float32)
    x, y, t = events["x"], events["y"], events["t"]
    if spec.shift_xy:
        x, y = x - x.min(), y - y.min()
    plane = (int(x.max()) + 1, int(y.max()) + 1)
    window = (t[-1] - (0 if spec.fork_window else t[0])) // n_bins
    begin = t[0] + np.arange(n_bins) * window
    starts = np.searchsorted(t, begin)
    ends = np.searchsorted(t, begin + window)
    counts = accumulate(x, y, events["p"], plane, starts, ends)
    resized = F.interpolate(
        torch.from_numpy(counts), size=spec.size, mode="bilinear", align_corners=True
    )
    return resized.numpy()


@dataclass(frozen=True)
class FrequencyFrames(Spec):
    """The reference's N-Omniglot frames: event rates, max-normalised, cropped, resized.

    Per sample (timestamps in microseconds, relative to the first event):

    1. ``n_time_bins`` bins of ``dt = t_last // T`` microseconds; the last bin runs to the
       last event (duration ``dt + t_last % T``, it takes the remainder).
    2. Counts per polarity (channel 0 = OFF, 1 = ON) and pixel of the ``sensor_size``
       (W, H) plane, divided by the bin duration (a stream shorter than T microseconds
       uses 1 us instead of 0).
    3. Each frame and polarity divided by ``max(its maximum, eps)``, so values lie in [0, 1].
    4. Rows ``crop[0]:crop[1]`` and columns ``crop[2]:crop[3]`` kept (``[4:254, 54:304]``
       of the 260x346 DAVIS346 plane), then bilinear resize to ``size`` (H, W), without
       antialiasing like a tensor resize of the reference's torchvision. ``size=None`` keeps
       the crop.

    The reference rounds the rates to float16 before normalising; this keeps float32.
    Output float32 ``[T, 2, size[0], size[1]]``.
    """

    n_time_bins: int = 12
    sensor_size: tuple[int, int, int] = (346, 260, 2)
    crop: tuple[int, int, int, int] = (4, 254, 54, 304)
    size: tuple[int, int] | None = (28, 28)
    eps: float = 1e-5
    antialias: bool = False

    def __post_init__(self) -> None:
        steps = positive_int("FrequencyFrames: n_time_bins", self.n_time_bins)
        object.__setattr__(self, "n_time_bins", steps)
        object.__setattr__(self, "sensor_size", tuple(int(v) for v in self.sensor_size))
        object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        top, bottom, left, right = self.crop
        width, height = self.sensor_size[:2]
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise ConfigError(
                f"FrequencyFrames: crop {self.crop} (top, bottom, left, right) does not fit "
                f"the {width}x{height} sensor"
            )
        if self.size is not None:
            object.__setattr__(self, "size", size_pair("FrequencyFrames: size", self.size))

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        events = as_events(events)
        n_bins = self.n_time_bins
        width, height = self.sensor_size[:2]
        top, bottom, left, right = self.crop
        if len(events) == 0:
            frames = np.zeros((n_bins, 2, height, width), np.float32)
        else:
            check_stream(events, (width, height, 2), path)
            t = events["t"] - events["t"][0]
            t_last = int(t[-1])
            dt = t_last // n_bins
            starts = np.searchsorted(t, np.arange(n_bins) * dt, side="left")
            ends = np.append(starts[1:], len(t))
            frames = accumulate(
                events["x"], events["y"], events["p"], (width, height), starts, ends
            )
            durations = np.full(n_bins, max(dt, 1), np.float64)
            durations[-1] = max(dt + t_last % n_bins, 1)
            frames = (frames / durations[:, None, None, None]).astype(np.float32)
            peak = frames.reshape(n_bins, 2, -1).max(axis=2)
            frames /= np.maximum(peak, np.float32(self.eps))[:, :, None, None]
        frames = np.ascontiguousarray(frames[:, :, top:bottom, left:right])
        if self.size is None or self.size == frames.shape[-2:]:
            return frames
        return resize(frames, self.size, antialias=self.antialias)
