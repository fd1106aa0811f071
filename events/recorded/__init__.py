"""Recorded event datasets: real DVS recordings on disk, one module per dataset.

* ``description``: :class:`RecordedDataset` (where the files are, how they are framed,
  the official splits, the default options) and :class:`StaticSide` (where the partner
  images come from and how they pair with recordings).
* ``options``: :class:`RecordedOptions`, the checked options of a load.
* ``files``: :class:`EventFiles` (the sorted sample list) and :class:`FramedFiles`.
* ``listing``: listing and splitting helpers the dataset modules share.
* ``loader``: the one loader (frame caches, validation split, event fraction, augmentation)
  and :func:`register_recorded`, which puts a description into the registry.
* ``static_side``: the static pool, which never holds the twin of a held-out recording.
* one module per dataset: ``ncaltech101``, ``nmnist``, ``cifar10dvs``, ``dvs_gesture``,
  ``nomniglot``, ``cepdvs`` and ``folder`` (your own recordings).

Every loader takes a local root and never downloads; layouts are in ``data/README.md``.
"""
