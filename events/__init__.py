"""The data layer: event files, framing, event transforms, static images, pairing, caches.

Imports nothing heavy at import time (no torch, no SpikingJelly); functions that need torch
import it when called.
"""

from snn_transfer.events.core import EVENT_DTYPE, as_events, make_events, validate_events

__all__ = ["EVENT_DTYPE", "as_events", "make_events", "validate_events"]
