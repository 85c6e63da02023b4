"""The long fuzzing run: `python -m tests.faults.fuzz --count 1000000 [--seed N]`.

Mutates the project's fixtures (tests/hostile.Mutator) and hands each input to
every reader (`tests.faults.hostile.examine`). Prints progress every 50 000 inputs
and a summary: inputs, seconds, outcomes, the slowest input's time, and findings.
A finding (an undocumented exception, or an input slower than --slow seconds)
is saved under --findings with its traceback, and the run goes on. Exit 1 when
anything was found. Run it niced: it is CPU-bound.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import random
import sys
import time
import traceback
from pathlib import Path

from tests.faults.hostile import Mutator, examine, fixtures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.fuzz")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=2.0,
                        help="seconds past which one input counts as a finding")
    parser.add_argument("--findings", type=Path, default=Path("fuzz-findings"))
    args = parser.parse_args(argv)

    seeds = fixtures()
    mutator = Mutator(random.Random(args.seed), seeds)
    outcomes: collections.Counter[str] = collections.Counter()
    found: collections.Counter[str] = collections.Counter()
    slowest, slowest_size = 0.0, 0
    started = time.monotonic()
    for n in range(1, args.count + 1):
        data = mutator.mutate(mutator.rng.choice(seeds))
        began = time.monotonic()
        try:
            outcomes[examine(data)] += 1
        except Exception as error:  # noqa: BLE001 - every escape is a finding, recorded
            where = traceback.extract_tb(error.__traceback__)[-1]
            key = f"{type(error).__name__} at {Path(where.filename).name}:{where.lineno}"
            _save(args.findings, data, traceback.format_exc(), found[key] == 0)
            found[key] += 1
            outcomes["ESCAPED"] += 1
        spent = time.monotonic() - began
        if spent > slowest:
            slowest, slowest_size = spent, len(data)
        if spent > args.slow:
            key = f"slower than {args.slow:g} s"
            _save(args.findings, data, f"{spent:.2f} s\n", found[key] == 0)
            found[key] += 1
        if n % 50_000 == 0:
            print(f"{n} inputs, {time.monotonic() - started:.0f} s, escaped "
                  f"{outcomes['ESCAPED']}", flush=True)
    total = time.monotonic() - started
    print(f"inputs {args.count}  seed {args.seed}  seconds {total:.0f}  "
          f"rate {args.count / total:.0f}/s")
    print("outcomes " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"slowest input {slowest:.3f} s ({slowest_size} bytes)")
    for key, count in found.most_common():
        print(f"FOUND {count} x {key}")
    return 1 if found else 0


def _save(folder: Path, data: bytes, why: str, first: bool) -> None:
    # Keep the first input of each kind, and at most a few hundred in all.
    folder.mkdir(parents=True, exist_ok=True)
    if first or len(list(folder.iterdir())) < 400:
        name = hashlib.sha256(data).hexdigest()[:16]
        (folder / f"{name}.eml").write_bytes(data)
        (folder / f"{name}.txt").write_text(why)


if __name__ == "__main__":
    sys.exit(main())
