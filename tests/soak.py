"""`make soak`: the convergence oracle (tests/unit/test_convergence.py) for minutes, not
seconds. Each round of ten histories starts from a seed it prints when it fails, with
the steps that reproduce the failure; `SOAK_SEED=<seed> make soak` runs that round again.

    make soak                  # ten minutes
    make soak MINUTES=60
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from broadsheet.adapters import queue as queue_module
from tests.conftest import pagefind_once_per_input
from tests.support import oracle
from tests.unit import test_convergence

HISTORIES_PER_ROUND = 10


def run_round(round_seed: int, steps: int) -> None:
    # Hypothesis seeds an undirected run from the random module: seeding it here makes
    # the round reproducible from the number printed.
    random.seed(round_seed)
    run_state_machine_as_test(
        test_convergence.Newspaper,
        settings=settings(
            max_examples=HISTORIES_PER_ROUND,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            print_blob=True,
        ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("MINUTES") or 10))
    parser.add_argument("--steps", type=int, default=40, help="steps in one history")
    args = parser.parse_args()
    queue_module.MAX_BODY = 2048  # every larger message through the claim check
    # Pagefind's binary once per distinct input, as in make test (its output is a pure
    # function of the records: tests/unit/test_search.py holds it to that).
    memo = pagefind_once_per_input()
    memo.__enter__()
    chosen = os.environ.get("SOAK_SEED")
    started = time.monotonic()
    deadline = started + args.minutes * 60
    rounds = 0
    while rounds == 0 or (not chosen and time.monotonic() < deadline):
        round_seed = int(chosen) if chosen else random.SystemRandom().randrange(2**32)
        try:
            run_round(round_seed, args.steps)
        except BaseException:
            print(f"soak: a history failed in the round with seed {round_seed}", file=sys.stderr)
            print(f"soak: run it again with SOAK_SEED={round_seed} make soak", file=sys.stderr)
            raise
        rounds += 1
    minutes = (time.monotonic() - started) / 60
    count = test_convergence.COUNTERS
    histories = rounds * HISTORIES_PER_ROUND
    print(
        f"soak: {histories} histories, {count['steps']} steps, {count['drains']} drains, "
        f"{count['deliveries']} messages delivered in {minutes:.1f} min: "
        f"{histories / minutes:.1f} histories and {count['deliveries'] / minutes:.0f} "
        f"messages a minute ({oracle.OVERLAPS['started_beside_another']} begun while others "
        f"were under way; held back: {oracle.HELD_BACK['articles']} articles, "
        f"{oracle.HELD_BACK['originals']} of them deleted originals a translation used, and "
        f"{oracle.HELD_BACK['photographs']} photographs); no failure"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
