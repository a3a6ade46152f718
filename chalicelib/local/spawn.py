"""Start the local stack as a child process (for e2e tests and benchmarks) and wait until it
says READY."""

from __future__ import annotations

import os
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

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, as a developer would; returns the exit code."""
        self.proc.send_signal(2)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def spawn(*args: str, stage: str = "local", stderr: IO | int = subprocess.DEVNULL,
          timeout: float = 300, state_dir: Path | None = None) -> Spawned:
    """``state_dir``: keep and restore state there, as `make run` does; without it the stack
    neither restores nor saves (``--no-state``), so one test's data never reaches another."""
    from chalicelib.local.stack import free_port

    args = (*args, "--state-dir", str(state_dir)) if state_dir else (*args, "--no-state")
    port, moto_port = free_port(), free_port()
    env = {**os.environ, "CRM_PORT": str(port), "CRM_MOTO_PORT": str(moto_port),
           "PYTHONUNBUFFERED": "1", "CRM_STAGE": stage}
    for key in ("AWS_ENDPOINT_URL", "CRM_LOCAL_FRESH", "CRM_LOCAL_STATE"):
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "chalicelib.local", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines: list[str] = []
    deadline = time.time() + timeout
    for line in proc.stdout:
        lines.append(line)
        if "READY" in line or time.time() > deadline:
            break
    if proc.poll() is not None or not any("READY" in line for line in lines):
        proc.kill()
        raise RuntimeError("local stack did not start:\n" + "".join(lines))
    started = Spawned(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}",
                      "".join(lines))
    threading.Thread(target=started._drain, name="stack-stdout", daemon=True).start()
    return started
