"""How many messages a poll fetches at a time: a few first, then more, bounded in bytes."""

from __future__ import annotations

import itertools

from triaged.usecases.polling import BATCH, BATCH_BYTES, FIRST_BATCH, next_batch


def test_batches_start_small_and_double_up_to_the_cap() -> None:
    sizes = [FIRST_BATCH]
    while sizes[-1] < BATCH:
        sizes.append(next_batch(sizes[-1], sizes[-1] * 2_000))
    assert sizes[0] < 10
    assert all(later == min(BATCH, 2 * earlier) for earlier, later in itertools.pairwise(sizes))
    assert next_batch(BATCH, BATCH * 2_000) == BATCH


def test_heavy_mail_makes_batches_smaller_by_bytes() -> None:
    # Forty 1 MB messages weigh five times the bound: the next batch holds about 8.
    assert next_batch(40, 40 * 1024 * 1024) == 40 * BATCH_BYTES // (40 * 1024 * 1024)
    # One message heavier than the bound still moves the mailbox on, one at a time.
    assert next_batch(1, 3 * BATCH_BYTES) == 1
