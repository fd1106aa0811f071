"""Datasets made by emulation: static images turned into event recordings.

* ``cached``: emulated recordings (and emulated static inputs) generated once by the
  saccade emulator (``events.saccades``) and found again by fingerprint.
* ``entries``: the registry entries ``digits``, ``mnist`` and ``fashion-mnist``, whose
  static pool and event recordings come from disjoint images of the same classes.
"""
