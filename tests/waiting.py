"""Polling for tests that wait on another thread or process."""
from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Poll `predicate` every 20 ms until it holds or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
