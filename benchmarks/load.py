"""Busy background processes, for measuring and testing the course on a loaded machine.

    python benchmarks/load.py [--procs 2] -- COMMAND [ARG ...]

runs COMMAND while PROCS processes keep the CPU busy (each a Python loop, one core's worth of
work), stops them when COMMAND ends, and exits with COMMAND's exit code. `make test-loaded` runs
the test suite this way; `make bench` times every notebook with and without `busy(2)`.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys

BURN = "while True:\n    pass\n"


@contextlib.contextmanager
def busy(procs: int = 2):
    """Keep `procs` processes burning CPU for the duration of the block."""
    if not (isinstance(procs, int) and procs >= 0):
        raise ValueError(f"busy: procs must be an int >= 0, got {procs!r}")
    # Each in a session of its own, as separate programs are: Linux's scheduler shares the cores
    # between sessions (autogroups) first, so burners in the caller's session would only compete
    # with the caller's own processes, not with a notebook's kernel (which has its own session).
    burners = [subprocess.Popen([sys.executable, "-c", BURN], start_new_session=True)
               for _ in range(procs)]
    try:
        yield burners
    finally:
        for p in burners:
            p.kill()
        for p in burners:
            p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/load.py", description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2, help="busy background processes (default 2)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to run after --")
    print(f"load.py: {args.procs} busy background processes while running: {' '.join(command)}", flush=True)
    with busy(args.procs):
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
