"""Start the local stack as a child process (for e2e tests and benchmarks) and wait until it
says READY."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Spawned:
    proc: subprocess.Popen
    base: str
    moto_url: str
    banner: str
    # What the stack printed after READY (EMF metrics, command output), the latest lines:
    # stdout is read to the end so the stack never blocks on a full pipe.
    output: deque = field(default_factory=lambda: deque(maxlen=2000))

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, as a developer would; returns the exit code."""
        self.proc.send_signal(2)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def spawn(*args: str, stage: str = "local", stderr: IO | int = subprocess.DEVNULL,
          timeout: float = 600, state_dir: Path | None = None) -> Spawned:
    """``state_dir``: keep and restore state there, as `make run` does; without it the stack
    neither restores nor saves (``--no-state``), so one test's data never reaches another.

    The stack binds port 0 (the kernel's pick, so no other process can take the port between a
    pick and a bind) and says which ports it bound in its banner. A stack that prints nothing
    for ``timeout`` seconds is killed: the deadline holds whether or not lines arrive."""
    args = (*args, "--state-dir", str(state_dir)) if state_dir else (*args, "--no-state")
    env = {**os.environ, "CRM_PORT": "0", "CRM_MOTO_PORT": "0", "PYTHONUNBUFFERED": "1",
           "CRM_STAGE": stage}
    for key in ("AWS_ENDPOINT_URL", "CRM_LOCAL_FRESH", "CRM_LOCAL_STATE"):
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "chalicelib.local", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read, args=(proc.stdout, lines), name="stack-stdout",
                     daemon=True).start()
    banner: list[str] = []
    deadline = time.monotonic() + timeout
    while not banner or "READY" not in banner[-1]:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:                       # the deadline, or the stack's stdout closed
            proc.kill()
            proc.wait()
            raise RuntimeError(f"local stack did not start within {timeout:.0f} s:\n"
                               + "".join(banner))
        banner.append(line)
    text = "".join(banner)
    started = Spawned(proc, _url(text, "API"), _url(text, "moto server"), text)
    # After READY the lines go on to ``output`` (deque.extend appends each as it comes).
    threading.Thread(target=started.output.extend, args=(iter(lines.get, None),),
                     name="stack-output", daemon=True).start()
    return started


def _read(pipe: IO[str], lines: queue.Queue) -> None:
    """The stack's stdout, line by line, read to its end so the stack never blocks on a full
    pipe; None marks the end."""
    for line in pipe:
        lines.put(line)
    lines.put(None)


def _url(banner: str, name: str) -> str:
    """The URL the banner prints after ``name`` (``API           http://127.0.0.1:43121``)."""
    match = re.search(rf"^{re.escape(name)}\s+(http://\S+)", banner, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"the local stack's banner has no {name} line:\n{banner}")
    return match.group(1)
