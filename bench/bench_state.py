"""What keeping the local stack's state between runs costs (docs/local-stack.md, "Between
runs"): a first start loading the demo shop, the save on Ctrl-C, and a second start that
restores it instead."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path


def _logged(path: str, message: str) -> dict:
    for line in Path(path).read_text().splitlines():
        if line.startswith("{") and f'"message":"{message}"' in line:
            return json.loads(line)
    return {}


def main() -> None:
    from chalicelib.local.spawn import spawn

    state_dir = Path(tempfile.mkdtemp(prefix="bench-state-"))
    runs = []
    for run in ("first (loads the demo shop)", "second (restores)"):
        log = tempfile.NamedTemporaryFile("w", prefix="bench-state-", suffix=".log", delete=False)
        started = time.perf_counter()
        stack = spawn(state_dir=state_dir, stderr=log, timeout=900)
        ready = time.perf_counter() - started
        started = time.perf_counter()
        stack.stop(timeout=300)
        runs.append((run, ready, time.perf_counter() - started, log.name))
        log.close()
    saved = _logged(runs[0][3], "local state saved")
    restored = _logged(runs[1][3], "local state restored")
    print(f"demo shop state: {saved.get('items')} items, {saved.get('objects')} objects, "
          f"{sum(f.stat().st_size for f in state_dir.rglob('*') if f.is_file()) / 1e6:.1f} MB")
    for run, ready, stop, _ in runs:
        print(f"{run:30s} start to READY {ready:6.1f} s   Ctrl-C to exit {stop:5.1f} s")
    print(f"save {saved.get('seconds')} s   restore {restored.get('seconds')} s")
