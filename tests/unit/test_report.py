"""The owner's report's pure parts: `[report]`, its periods, its figures, its words in
every shipped language, and the letter's MIME (pictures named by cid)."""

from __future__ import annotations

import email
import itertools
import re
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.config_values import MINIMAL, problems_of, with_values
from triaged.config.loading import from_mapping
from triaged.config.report import ReportConfig
from triaged.core.letters.compose import compose
from triaged.core.letters.render import Renderer
from triaged.core.report.figures import (
    CategoryCount,
    OldComplaint,
    ReportFigures,
    categories,
    spread,
)
from triaged.core.report.letter import report_letter
from triaged.core.report.periods import BadPeriod, Period, asked_period, due_report
from triaged.core.report.phrases import PHRASES
from triaged.domain.records import Address, Letter, LetterKind

BUCHAREST = ZoneInfo("Europe/Bucharest")


def test_report_is_off_until_someone_is_named() -> None:
    config = from_mapping(MINIMAL, Path("/nonexistent"))
    assert config.report == ReportConfig()
    assert config.report.scheduled is False
    named = from_mapping(with_values(MINIMAL, report={"to": ["owner@acme.example"],
                                                      "every": "month", "day": "fri",
                                                      "at": "07:30"}), Path("/nonexistent"))
    assert named.report == ReportConfig(("owner@acme.example",), "month", 4, 450)
    assert named.report.scheduled is True
    # The owner is one of the business's own: a bounce alerts, never suppresses.
    assert "owner@acme.example" in named.own_addresses()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"to": "owner@acme.example"}, "report.to: expected a list"),
        ({"to": ["Owner <owner@acme.example>"]}, "report.to[0]: expected an email address"),
        ({"every": "daily"}, "report.every: expected one of week, month, "),
        ({"day": "funday"}, "report.day: unknown day 'funday'"),
        ({"at": "8am"}, "report.at: expected a time as HH:MM, got '8am'"),
        ({"at": "24:00"}, "report.at: expected a time from 00:00 to 23:59"),
        ({"when": "mon"}, "unknown key 'report.when'"),
    ],
)
def test_bad_report_values_are_reported_with_their_key_path(values: dict[str, Any],
                                                            expected: str) -> None:
    problems = problems_of(with_values(MINIMAL, report=values))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_the_asked_period_defaults_to_last_full_week_and_refuses_bad_dates() -> None:
    wednesday = date(2026, 12, 9)
    week = asked_period("", "", wednesday, BUCHAREST)
    assert (week.first, week.last) == (date(2026, 11, 30), date(2026, 12, 6))
    assert week.since == datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert week.until == datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
    assert (week.previous().first, week.previous().last) == (date(2026, 11, 23),
                                                               date(2026, 11, 29))
    since = asked_period("2026-12-01", "", wednesday, BUCHAREST)
    assert (since.first, since.last) == (date(2026, 12, 1), date(2026, 12, 8))
    until = asked_period("", "2026-12-01", wednesday, BUCHAREST)
    assert (until.first, until.last) == (date(2026, 11, 25), date(2026, 12, 1))
    with pytest.raises(BadPeriod, match="--since 2026-12-02 is after --until 2026-12-01"):
        asked_period("2026-12-02", "2026-12-01", wednesday, BUCHAREST)
    with pytest.raises(BadPeriod, match="--since: expected a date"):
        asked_period("yesterday", "", wednesday, BUCHAREST)


def test_a_period_across_the_clock_change_has_a_day_of_25_hours() -> None:
    october = Period(date(2026, 10, 24), date(2026, 10, 26), BUCHAREST)
    starts = october.day_starts()
    assert [(b - a).total_seconds() / 3600 for a, b in itertools.pairwise(starts)] == [
        24, 25, 24]


WEEKLY = ReportConfig(("owner@acme.example",), "week", 0, 8 * 60)


@pytest.mark.parametrize(
    ("now", "key"),
    [
        (datetime(2026, 11, 30, 5, 59, tzinfo=UTC), None),  # 07:59 Monday: last week's
        # time passed more than a day ago, this week's has not come.
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), "week:2026-11-23"),  # 08:00 Monday
        (datetime(2026, 12, 1, 5, 59, tzinfo=UTC), "week:2026-11-23"),  # a day late
        (datetime(2026, 12, 1, 6, 1, tzinfo=UTC), None),  # too late: wait for the next
    ],
)
def test_the_weekly_report_is_due_from_its_time_for_a_day(now: datetime,
                                                          key: str | None) -> None:
    due = due_report(WEEKLY, BUCHAREST, now)
    assert (due.key if due else None) == key
    if due is not None:
        assert (due.period.first, due.period.last) == (date(2026, 11, 23), date(2026, 11, 29))


def test_the_monthly_report_covers_the_month_before() -> None:
    monthly = ReportConfig(("owner@acme.example",), "month", 0, 8 * 60)
    due = due_report(monthly, BUCHAREST, datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
    assert due is not None
    assert due.key == "month:2026-11"
    assert (due.period.first, due.period.last) == (date(2026, 11, 1), date(2026, 11, 30))
    assert due_report(ReportConfig(("o@a.example",), "", 0, 0), BUCHAREST,
                      datetime(2026, 12, 1, 7, 0, tzinfo=UTC)) is None
    assert due_report(ReportConfig((), "week", 0, 0), BUCHAREST,
                      datetime(2026, 11, 30, 7, 0, tzinfo=UTC)) is None


def test_median_and_p90_and_rising_categories() -> None:
    assert spread([]).median is None
    assert (spread([1.0, 2.0, 3.0, 10.0]).median, spread([1.0, 2.0, 3.0, 10.0]).p90) == (2.5,
                                                                                        10.0)
    seconds = [float(n) for n in range(1, 101)]
    assert (spread(seconds).median, spread(seconds).p90) == (50.5, 90.0)
    rows = categories({"delivery": 12, "taste": 4, "": 2}, {"delivery": 6, "taste": 4,
                                                           "price": 3})
    assert [r.category for r in rows] == ["delivery", "taste", "", "price"]
    assert [r.category for r in rows if r.rising] == ["delivery"]


def figures(received: int = 18) -> ReportFigures:
    per_day = tuple((date(2026, 11, 23 + n), n * received // 21) for n in range(7))
    per_day = (*per_day[:-1], (date(2026, 11, 29), received - sum(n for _, n in per_day[:-1])))
    return ReportFigures(
        period=Period(date(2026, 11, 23), date(2026, 11, 29), BUCHAREST),
        per_day=per_day,
        by_category=(CategoryCount("delivery", 12, 6), CategoryCount("<i>{{ 6*7 }}</i>", 4, 0),
                     CategoryCount("", 2, 5)) if received else (),
        on_time=7, late=3,
        first_reply=spread([30.0, 60.0, 90.0]), resolution=spread([]),
        overdue_by_level={0: 2, 1: 1}, settled=4, reopened=1, no_answer=2,
        oldest_open=(OldComplaint("ABC-DEF1", datetime(2026, 11, 2, 9, tzinfo=UTC),
                                  "in_progress", ""),),
        as_of=datetime(2026, 11, 30, 6, tzinfo=UTC))


def test_the_json_has_every_figure() -> None:
    made = figures().as_json()
    assert made["since"] == "2026-11-23"
    assert made["until"] == "2026-11-29"
    assert made["received"] == 18
    assert made["by_category"][0] == {"category": "delivery", "count": 12, "previous": 6}
    assert made["promises"] == {"on_time": 7, "late": 3, "share": 0.7}
    assert made["first_reply_seconds"] == {"median": 60, "p90": 90}
    assert made["resolution_seconds"] == {"median": None, "p90": None}
    assert made["overdue_by_level"] == {"0": 2, "1": 1}
    assert made["satisfaction"] == {"settled": 4, "reopened": 1, "no_answer": 2}
    assert made["oldest_open"] == [{"reference": "ABC-DEF1",
                                    "received_at": "2026-11-02T09:00:00+00:00",
                                    "state": "in_progress"}]


def test_the_english_letter_names_what_rose_and_carries_every_figure_in_text() -> None:
    letter = report_letter(figures(), "Acme Bakery", "en", with_charts=False)
    assert letter.subject == "Acme Bakery: complaints report, Nov 23, 2026 to Nov 29, 2026"
    for line in ("- Complaints received: 18.",
                 "- delivery complaints doubled: 12 against 6.",
                 "- <i>{{ 6*7 }}</i> complaints are new: 4, none in the previous period.",
                 "- uncategorised: 2 (5)",
                 "- 7 of 10 promises due in this period were kept (70%); 3 late.",
                 "- Holding reply: median 60 seconds, 90% within 2 minutes.",
                 "- Final letter: none approved in this period.",
                 "- Not escalated yet: 2", "- Escalation level 1: 1",
                 "- 4 settled, 1 reopened, 2 no answer.",
                 "- ABC-DEF1, received Nov 2, 2026 (in_progress)"):
        assert line in letter.text, letter.text
    assert "42" not in letter.text
    assert "42" not in letter.html
    assert "&lt;i&gt;{{ 6*7 }}&lt;/i&gt;" in letter.html


@pytest.mark.parametrize("language", sorted(Renderer().languages))
def test_every_shipped_language_has_the_report(language: str) -> None:
    assert language in PHRASES
    letter = report_letter(figures(), "Acme", language, with_charts=False)
    assert letter.language == language
    assert "12" in letter.text
    assert "ABC-DEF1" in letter.text
    empty = report_letter(figures(0), "Acme", language, with_charts=False)
    assert PHRASES[language]["empty"] in empty.text


def test_charts_are_pngs_the_html_names_by_cid_and_the_empty_period_has_none() -> None:
    letter = report_letter(figures(), "Acme", "ko")
    assert [i.data[:4] for i in letter.images] == [b"\x89PNG", b"\x89PNG"]
    assert re.findall(r'src="cid:([^"]+)"', letter.html) == [i.content_id for i in letter.images]
    assert letter.standalone_html.count('src="data:image/png;base64,') == 2
    assert report_letter(figures(0), "Acme", "ko").images == ()


def test_a_letter_with_pictures_is_multipart_related_inside_alternative() -> None:
    made = report_letter(figures(), "Acme", "en")
    letter = Letter(kind=LetterKind.REPORT, to=Address("owner@acme.example", ""),
                    subject=made.subject, text=made.text, html=made.html, language="en",
                    files=made.images)
    raw = compose(letter, Address("support@acme.example", "Acme"),
                  now=datetime(2026, 11, 30, 6, tzinfo=UTC), message_id="<r@acme.example>")
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    parts = list(message.walk())
    assert [p.get_content_type() for p in parts] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html",
        "image/png", "image/png"]
    assert [p.get_payload(decode=True) for p in parts[4:]] == [i.data for i in made.images]
    assert {str(p["Content-ID"]) for p in parts[4:]} == {f"<{i.content_id}>" for i in made.images}
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
