#!/usr/bin/env python3
"""Run the month-in-the-life simulation (tests/simulation.py) for many seeds.

    python3 dev/simulate.py [--seeds 5000] [--first 0] [--days 60]
    python3 dev/simulate.py --seed 1234        one seed, its trace if it fails

Each seed plays 60 simulated days of the real scheduler with a random
script of events (drive unplugged, sleep, restarts, clock changes, DST,
pauses, manual runs) and checks the invariants after every event. Prints
each failing seed's trace (the events up to the broken invariant and the
last attempts) and a summary; exits 1 when any seed failed. A seed that
finds a bug goes into tests/test_simulation.py's FIXED once it is fixed.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.simulation import SimulationFailure, run_seed  # noqa: E402 (after the path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5000, help="how many seeds (default 5000)")
    p.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    p.add_argument("--seed", type=int, help="run this one seed only")
    p.add_argument("--days", type=int, default=60)
    args = p.parse_args()
    seeds = [args.seed] if args.seed is not None else range(args.first, args.first + args.seeds)
    started, failed = time.monotonic(), []
    for seed in seeds:
        try:
            run_seed(seed, args.days)
        except SimulationFailure as exc:
            failed.append(seed)
            print("%s\n" % exc, flush=True)
    print("%d seed(s) in %.1f s: %d failed%s" % (len(seeds), time.monotonic() - started, len(failed),
                                                ": " + " ".join(map(str, failed)) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
