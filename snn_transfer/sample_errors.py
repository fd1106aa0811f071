"""Errors while loading one sample name that sample's source file and index.

A DataLoader worker that fails re-raises its exception in the main process with only the
worker's traceback; wrapping the dataset in :class:`NamedSamples` turns any error raised
while loading sample ``i`` into a :class:`DatasetError` that names the split's source file
for ``i`` (where the split has ``names``), the index and the original error, and that
message survives the trip through the DataLoader.
"""

from __future__ import annotations

from typing import Any

from snn_transfer.errors import DatasetError


def sample_name(split: Any, index: int) -> str | None:
    """The source file (recording) of sample ``index`` of ``split``, or None when the split
    does not name its samples. A ``torch.utils.data.Subset`` is looked through."""
    while hasattr(split, "dataset") and hasattr(split, "indices"):
        split, index = split.dataset, split.indices[int(index)]
    try:
        names = split.names
        return str(names[int(index)])
    except Exception:  # a split without names (or a source that cannot list them)
        return None


def describe_failure(split: Any, index: int, error: BaseException) -> str:
    name = sample_name(split, index)
    where = f"sample {index}" + (f" (file {name})" if name is not None else "")
    return (
        f"loading {where} failed: {type(error).__name__}: {error}; fix or remove that file "
        "(or rebuild the frame cache) and run again"
    )


class NamedSamples:
    """``dataset[key]`` whose errors name the sample: ``key`` is an index into ``split`` or a
    ``(index, draw)`` key (the paired and keyed datasets); ``split`` supplies the names."""

    def __init__(self, dataset: Any, split: Any | None = None) -> None:
        self.dataset = dataset
        self.split = dataset if split is None else split

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.dataset[key]
        except DatasetError:
            raise
        except Exception as error:
            index = key[0] if isinstance(key, tuple) else key
            raise DatasetError(describe_failure(self.split, int(index), error)) from error
