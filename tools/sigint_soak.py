"""Ctrl-C during fit, many times over, with both cores busy: the soak behind
tests/training/test_interrupts.py::test_sigint_during_fit_stops_within_a_second.

Each run starts the test's child (a fit of 1,000 short epochs), waits for it to be inside
the training loop, sleeps a random 0-0.5 s (so the signal lands anywhere: inside the
core's batch loop, between epochs, in a callback, in the snapshot), sends SIGINT and
expects the child to stop within a second with a usable model. With --burn N, N processes
spin on the CPU for the whole soak (the loaded machine CI may be).

    python tools/sigint_soak.py --runs 200 --burn 2

Exit status 1 if any run failed; each failure prints the child's stderr.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "training"))
import test_interrupts  # noqa: E402  (the child script and its line reader)


def _burn(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def one_run(path: str, rng: random.Random) -> str | None:
    """None if the child stopped within a second and its model works, else why not."""
    proc = test_interrupts._child(test_interrupts._SIGINT_CHILD, path)
    try:
        test_interrupts._wait_line(proc, "ready")
        time.sleep(rng.uniform(0.0, 0.5))
        sent = time.clock_gettime(time.CLOCK_MONOTONIC)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return f"no stop within 60 s after SIGINT; stderr: {err[-2000:]}"
    finally:
        proc.kill()
    if proc.returncode != 0:
        return f"exit status {proc.returncode}; stderr: {err[-2000:]}"
    result = json.loads(out.strip().splitlines()[-1])
    if not result["interrupted"]:
        return "fit ran to its end"
    latency = result["stopped"] - sent
    counted = result["epochs_done"] - result["current_epoch"]  # 0 inside the epoch, 1 after its last step
    if latency >= 1.0 or not result["finite"] or counted not in (0, 1):
        return f"latency {latency:.3f} s, result {result}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--burn", type=int, default=2, help="CPU-burning processes beside the soak (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # A shell's background job may have inherited SIGINT as ignored; the children must not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(args.seed)
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.burn)]
    for b in burners:
        b.start()
    failures = 0
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                why = one_run(os.path.join(tmp, "m.safetensors"), rng)
                if why is not None:
                    failures += 1
                    print(f"run {i + 1}: FAILED: {why}", flush=True)
                elif (i + 1) % 20 == 0:
                    print(f"{i + 1} runs, {failures} failed, load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        stop.set()
        for b in burners:
            b.join()
    print(f"{args.runs} runs with {args.burn} CPU burners in {time.monotonic() - start:.0f} s: "
          f"{args.runs - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
