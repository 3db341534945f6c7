"""Bootstrap speed: how long the evaluator's paired bootstrap and the Holm family adjustment take.

Moved here from a unit test that asserted a wall-clock bound (a timing is a measurement of the
machine, not a property of the code). Real per-example 0/1 scores are drawn with a fixed seed.

Example (from the repo root):
    python -m bench.bootstrap_speed --examples 200 --resamples 2000
"""

from __future__ import annotations

import time

import numpy as np

from bench import common
from harness.evaluate.stats import bootstrap, compare, holm

# An evaluation compares a handful of metrics: the whole bootstrap must stay far below its generation time.
BUDGET_S = 0.5


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--examples", type=int, default=200)
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--metrics", type=int, default=6, help="accuracy metrics adjusted together by Holm")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    pairs = [(rng.integers(0, 2, args.examples).tolist(), rng.integers(0, 2, args.examples).tolist()) for _ in range(args.metrics)]

    def timed(work) -> float:
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - started)
        return best

    one = timed(lambda: compare(*pairs[0], n_resamples=args.resamples))
    family = timed(lambda: holm({f"m{i}": bootstrap(b, t, n_resamples=args.resamples) for i, (b, t) in enumerate(pairs)}))
    rows = [("one metric: compare()", one), (f"{args.metrics} metrics: bootstrap() each + holm()", family)]
    common.emit(
        args,
        f"Bootstrap speed: {args.examples} examples, {args.resamples} resamples (best of {args.repeats})",
        None,
        [
            ("Seconds", common.table(["work", "seconds"], rows)),
            ("Targets", common.targets_table([(f"{BUDGET_S} s ÷ one metric's compare()", common.ratio(BUDGET_S, one), 1.0)])),
        ],
        {"seconds": dict(rows)},
    )


if __name__ == "__main__":
    main()
