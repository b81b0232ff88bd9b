"""The training benchmark: one epoch of pynn against NumPy, PyTorch and
scikit-learn (see benchmarks/README.md). The code lives in pynn/cli/bench.py so that
`pynn bench` works from any installation; this script runs it with its figures and
JSON written next to it by default.

    python benchmarks/bench_train.py [--quick] [--batches 32,128,512] [...]   # = pynn bench
"""
import os
import sys

from pynn.cli.bench import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv and "--worker" not in argv:
        argv += ["--out", os.path.dirname(os.path.abspath(__file__))]
    sys.exit(main(argv))
