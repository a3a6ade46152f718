"""How `make run` stops: the first Ctrl-C asks for a clean stop, the second stops at once, and a
signal the kernel hands to another thread still reaches the main thread's wait."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from chalicelib.local.__main__ import SIGNALS, stop_on_signals, wait_for_stop


@pytest.fixture
def handlers():
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _parked() -> tuple[threading.Thread, threading.Event]:
    """A thread of the process, parked, as a poller's thread is; it receives the signal."""
    release = threading.Event()
    parked = threading.Thread(target=release.wait, args=(30,), daemon=True)
    parked.start()
    return parked, release


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_handed_to_another_thread_ends_the_main_threads_wait(handlers, sig):
    stop = stop_on_signals()
    other, release = _parked()
    signal.pthread_kill(other.ident, sig)
    started = time.monotonic()
    wait_for_stop(stop, tick=0.05)             # returns, rather than waiting forever
    assert stop.requested and time.monotonic() - started < 30
    release.set()
    other.join(5)


def test_the_first_signal_asks_to_stop_and_leaves_the_second_to_the_default(handlers):
    stop = stop_on_signals()
    assert not stop.requested
    assert all(signal.getsignal(sig) not in (signal.SIG_DFL, signal.default_int_handler)
               for sig in SIGNALS)
    signal.raise_signal(signal.SIGTERM)
    assert stop.requested
    assert all(signal.getsignal(sig) == signal.SIG_DFL for sig in SIGNALS)
