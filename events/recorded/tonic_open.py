"""Tonic's dataset classes by name, opened from a local folder with downloads off.

Tonic's constructors download whenever their check of the folder fails (it wants the
archive file next to at least N extracted files), and they have no option to stop that; this
package never downloads. :func:`open_tonic` therefore:

1. maps ``name`` to a class of ``tonic.datasets`` (case-insensitive; an unknown name is a
   ``ConfigError`` listing them all);
2. checks the keyword arguments against that class's constructor;
3. requires the folder Tonic reads, ``<save_to>/<Class>``, to exist and hold files, else
   raises our layout error (``missing_root``): nothing is fetched;
4. runs the constructor with the class's ``_check_exists`` answering True (the extracted
   files are enough; the archive is not needed) and its ``download`` and the download
   helpers of its module raising our layout error, patched on the class and module for
   the duration of the constructor only. The object made is a plain Tonic object: it
   pickles into worker processes, and everything after the constructor is Tonic's own
   code. The patch is process-global while it lasts, so constructions hold a lock;
5. refuses an empty result (no files where this class looks) with the layout.

:func:`open_tonic_splits` opens both official splits of a class whose constructor takes
``train`` (``train=True`` and ``train=False``), unless ``train`` is given.
"""

from __future__ import annotations

import difflib
import inspect
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.recorded.description import missing_root

#: where each Tonic class reads its files, for the error of a missing folder
TONIC_LAYOUTS = {
    "NMNIST": "  <save_to>/NMNIST/Train/<digit>/<number>.bin and <save_to>/NMNIST/Test/<digit>/"
    "<number>.bin\n  (ATIS .bin files as Tonic extracts train.zip and test.zip)",
    "NCALTECH101": "  <save_to>/NCALTECH101/Caltech101/<class>/image_0001.bin ...  (ATIS .bin)",
    "DVSGesture": "  <save_to>/DVSGesture/ibmGestureTrain/user01_<lighting>/<label>.npy and "
    "<save_to>/DVSGesture/ibmGestureTest/...",
    "CIFAR10DVS": "  <save_to>/CIFAR10DVS/<class>/<n>.aedat4  (AEDAT 4, read with the aedat "
    "package)",
}
_GENERIC_LAYOUT = (
    "  <save_to>/{name}/...  as Tonic's {name} leaves it after downloading and extracting\n"
    "  its archive (see Tonic's documentation of tonic.datasets.{name})"
)
_LOCK = threading.Lock()


def tonic_layout(name: str) -> str:
    """The layout text of Tonic class ``name`` (the archive itself is never needed)."""
    text = TONIC_LAYOUTS.get(name, _GENERIC_LAYOUT.format(name=name))
    return text + "\n  (the downloaded archive itself is not needed, only the extracted files)"


def tonic_module() -> Any:
    """``tonic.datasets``, or a ``ConfigError`` saying how to install Tonic."""
    try:
        import tonic.datasets
    except ImportError as error:
        raise ConfigError(
            f"the tonic entry needs the tonic package ({error}); install it with pip install tonic"
        ) from None
    return tonic.datasets


def tonic_class(name: str) -> type:
    """The class ``name`` of ``tonic.datasets`` (case-insensitive)."""
    module = tonic_module()
    known = sorted(getattr(module, "__all__", []))
    if not isinstance(name, str):
        raise ConfigError(f"name = {name!r} must be the name of a class of tonic.datasets")
    match = [k for k in known if k == name] or [k for k in known if k.lower() == name.lower()]
    if len(match) != 1:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"name = {name!r} is no dataset class of tonic.datasets{hint}; choose one of "
            f"{', '.join(known)}"
        )
    return getattr(module, match[0])


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    return params


def _folder_argument(cls: type) -> str:
    params = _parameters(cls)
    for key in ("save_to", "root"):
        if key in params:
            return key
    raise ConfigError(f"tonic.datasets.{cls.__name__} takes no save_to or root folder")


def check_tonic_arguments(cls: type, kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments the constructor of ``cls`` does not take."""
    params = _parameters(cls)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    folder = _folder_argument(cls)
    allowed = [k for k in params if k != folder]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"tonic.datasets.{cls.__name__} takes no option {', '.join(map(repr, unknown))}; "
            f"its own options are: {', '.join(allowed)} (besides this package's options)"
        )


def _refuse_download(cls: type, save_to: Any):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise missing_root(
            f"tonic {cls.__name__}",
            save_to,
            tonic_layout(cls.__name__),
            "Tonic wanted to download files that are missing",
        )

    return refuse


@contextmanager
def downloads_off(cls: type, save_to: Any) -> Iterator[None]:
    """Within the block, ``cls`` finds its files present and cannot download (see the
    module docstring, step 4)."""
    refuse = _refuse_download(cls, save_to)
    targets: list[tuple[Any, str, Any]] = [
        (cls, "_check_exists", lambda self, *args, **kwargs: True),
        (cls, "download", refuse),
    ]
    for module_name in {cls.__module__, "tonic.dataset", "tonic.download_utils"}:
        module = sys.modules.get(module_name)
        for key in dir(module) if module is not None else ():
            if key.startswith("download") and callable(getattr(module, key)):
                targets.append((module, key, refuse))
    missing = object()
    with _LOCK:
        saved = [(owner, key, owner.__dict__.get(key, missing)) for owner, key, _ in targets]
        try:
            for owner, key, value in targets:
                setattr(owner, key, value)
            yield
        finally:
            for owner, key, value in reversed(saved):
                if value is missing:
                    delattr(owner, key)
                else:
                    setattr(owner, key, value)


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def open_tonic(name: str, save_to: Any, **kwargs: Any) -> Any:
    """``tonic.datasets.<name>(save_to, **kwargs)`` from local files, never downloading
    (see the module docstring)."""
    cls = tonic_class(name)
    check_tonic_arguments(cls, kwargs)
    what = f"tonic {cls.__name__}"
    if save_to is None:
        raise missing_root(what, None, tonic_layout(cls.__name__), "no save_to folder given")
    save_to = Path(save_to).expanduser()
    folder = save_to / cls.__name__ if _folder_argument(cls) == "save_to" else save_to
    if not _has_files(folder):
        raise missing_root(what, save_to, tonic_layout(cls.__name__), f"no files under {folder}")
    with downloads_off(cls, save_to):
        dataset = cls(**{_folder_argument(cls): str(save_to)}, **kwargs)
    if len(dataset) == 0:
        where = Path(getattr(dataset, "location_on_system", folder))
        where = where / getattr(dataset, "folder_name", "")
        raise missing_root(
            what, save_to, tonic_layout(cls.__name__), f"Tonic found no samples under {where}"
        )
    return dataset


def open_tonic_splits(name: str, save_to: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``(train, test)``: both official splits when the class takes ``train`` and it is not
    given (``train=True``, ``train=False``), else ``(the one dataset, None)``."""
    cls = tonic_class(name)
    if "train" in _parameters(cls) and "train" not in kwargs:
        train = open_tonic(name, save_to, train=True, **kwargs)
        try:
            test = open_tonic(name, save_to, train=False, **kwargs)
        except DatasetError as error:
            raise DatasetError(
                f"{error}\nto use the training split alone, pass train=true: a test split is "
                "then carved out of it (test_fraction)"
            ) from None
        return train, test
    return open_tonic(name, save_to, **kwargs), None
