"""Event-file readers and writers."""
