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


def _waiting(done: threading.Event) -> threading.Thread:
    """A thread of the process, parked, as a poller's thread is; it receives the signal."""
    parked = threading.Thread(target=done.wait, args=(30,), daemon=True)
    parked.start()
    return parked


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers are the main thread's")
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_handed_to_another_thread_ends_the_main_threads_wait(handlers, sig):
    done = stop_on_signals()
    other = _waiting(done)
    signal.pthread_kill(other.ident, sig)
    started = time.monotonic()
    wait_for_stop(done, tick=0.05)             # returns, rather than waiting forever
    assert done.is_set() and time.monotonic() - started < 30
    other.join(5)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers are the main thread's")
def test_the_first_signal_asks_to_stop_and_leaves_the_second_to_the_default(handlers):
    done = stop_on_signals()
    assert not done.is_set()
    assert all(signal.getsignal(sig) not in (signal.SIG_DFL, signal.default_int_handler)
               for sig in SIGNALS)
    signal.raise_signal(signal.SIGTERM)
    assert done.is_set()
    assert all(signal.getsignal(sig) == signal.SIG_DFL for sig in SIGNALS)
