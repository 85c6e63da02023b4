"""Every column of every table is classified as personal (erased) or kept: a new
table or column cannot escape `forget`, retention and `export --customer`."""

from __future__ import annotations

from triaged.store.models import metadata
from triaged.store.personal import KEPT, PERSONAL


def test_every_column_is_personal_or_kept_and_none_is_both() -> None:
    assert set(PERSONAL) == set(KEPT) == {t.name for t in metadata.sorted_tables}
    for table in metadata.sorted_tables:
        personal, kept = set(PERSONAL[table.name]), KEPT[table.name]
        assert not personal & kept, table.name
        assert personal | kept == set(table.c.keys()), table.name
