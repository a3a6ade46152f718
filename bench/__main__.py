"""`python -m bench [name ...]`: run every bench/bench_*.py (or the named ones); each prints
what it measured."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    failed = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        # Each benchmark in its own process: each starts its own moto server and settings.
        code = subprocess.call([sys.executable, "-c", f"import bench.{name} as b; b.main()"],
                               cwd=here.parent)
        failed += code != 0
        print(f"({name} took {time.perf_counter() - started:.1f} s, exit {code})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
