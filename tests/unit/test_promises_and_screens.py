"""Promised times as people write them, and the console's screens (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triaged.adapters.imap import _describe
from triaged.cli.views import event_words, promise_stamp, table
from triaged.core.calendar import promised_instant
from triaged.core.letters.customer import promised_words
from triaged.core.references import is_valid, likely_meant, new_reference


@pytest.mark.parametrize(("due", "shown"), [
    # 12:14 Bucharest is promised as 13:00; an instant on the hour stays.
    (datetime(2026, 12, 8, 10, 14, tzinfo=UTC), datetime(2026, 12, 8, 11, 0, tzinfo=UTC)),
    (datetime(2026, 12, 8, 15, 0, tzinfo=UTC), datetime(2026, 12, 8, 15, 0, tzinfo=UTC)),
    (datetime(2026, 12, 8, 15, 0, 0, 1, tzinfo=UTC), datetime(2026, 12, 8, 16, 0, tzinfo=UTC)),
    # The night the clocks go back (04:00 EEST → 03:00 EET): 03:30 EEST is promised
    # as the wall clock's next 03:00 (EET), 01:00 UTC.
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
])
def test_a_promise_is_rounded_up_to_the_whole_hour_of_the_business(
    due: datetime, shown: datetime
) -> None:
    rounded = promised_instant(due, "Europe/Bucharest")
    # Compared in UTC: an instant in the repeated hour never equals another zone's.
    assert rounded.astimezone(UTC) == shown
    assert rounded >= due, "never promised earlier than the calendar said"
    assert (rounded.minute, rounded.second, rounded.microsecond) == (0, 0, 0)


def test_a_half_hour_zone_rounds_on_its_own_wall_clock() -> None:
    # 10:14 UTC is 15:44 in Kolkata: promised 16:00 there, not 11:00 UTC (16:30).
    rounded = promised_instant(datetime(2026, 12, 8, 10, 14, tzinfo=UTC), "Asia/Kolkata")
    assert (rounded.hour, rounded.minute) == (16, 0)


@pytest.mark.parametrize(("language", "expected"), [
    ("en", ("Tuesday, December 8, 2026", "1 PM (Romania Time)")),
    ("ja", ("2026年12月8日火曜日", "13:00（ルーマニア時間）")),
    ("ko", ("2026년 12월 8일 화요일", "오후 1시 (루마니아 시간)")),
    ("de", ("Dienstag, 8. Dezember 2026", "13:00 Uhr (Ortszeit Rumänien)")),
    ("ro", ("marți, 8 decembrie 2026", "13:00 (Ora din România)")),
])
def test_the_promise_names_the_zone_in_the_letters_language(
    language: str, expected: tuple[str, str]
) -> None:
    # The Japanese customer of a Bucharest shop reads 13:00 *Romania* time.
    due = datetime(2026, 12, 8, 10, 14, tzinfo=UTC)
    assert promised_words(due, "Europe/Bucharest", language) == expected


def test_screens_show_the_same_rounded_instant_with_the_zone() -> None:
    assert promise_stamp("2026-12-08T10:14:00.123456+00:00", "Europe/Bucharest") == \
        "2026-12-08 13:00 EET"
    assert promise_stamp(None, "Europe/Bucharest") == "-"


def test_a_table_keeps_its_columns_aligned_past_a_long_address() -> None:
    long = "a.very.long.customer.address+with-detail@subdomain.example.test"
    lines = table(("REFERENCE", "CUSTOMER", "SUBJECT"),
                  [("K7M-Q3X9", long, "Cake"), ("ABC-DEFG", "b@x.test", "Late")])
    assert lines[0].startswith("REFERENCE  CUSTOMER")
    assert long in lines[1], "never cut"
    starts = {line.index(word) for line, word in zip(lines, ("SUBJECT", "Cake", "Late"),
                                                     strict=True)}
    assert len(starts) == 1, lines


def test_an_event_is_a_readable_line_not_a_dict() -> None:
    zone = "Europe/Bucharest"
    assert event_words({"from": "received", "to": "acknowledged", "letter": "<a@b>"},
                       zone) == "received → acknowledged; letter: <a@b>"
    line = event_words({"letter": 3, "kind": "holding", "matched": ["cake", "crushed"],
                        "note": None, "due_at": "2026-12-08T10:14:00.123456+00:00"}, zone)
    assert line == ("letter: 3; kind: holding; matched: cake, crushed; "
                    "due at: 2026-12-08 12:14:00 EET")
    assert "{" not in line
    assert "'" not in line


def test_a_mistyped_reference_offers_the_reference_meant() -> None:
    for _ in range(50):
        meant = new_reference()
        for slip in (_changed(meant), _swapped(meant)):
            if slip == meant or is_valid(slip):
                continue
            candidates = likely_meant(slip)
            assert meant in candidates, (meant, slip)
            assert all(is_valid(c) for c in candidates)
            assert len(candidates) <= 14


def _changed(ref: str) -> str:
    return ("Z" if ref[4] != "Z" else "Y").join((ref[:4], ref[5:]))


def _swapped(ref: str) -> str:
    return ref[0] + ref[2] + ref[1] + ref[3:]


def test_a_refused_imap_login_reads_as_words_not_a_byte_string() -> None:
    from imapclient.exceptions import LoginError

    error = LoginError("b'[AUTHENTICATIONFAILED] Authentication failed.'")
    assert _describe(error) == "login refused ([AUTHENTICATIONFAILED] Authentication failed.)"
