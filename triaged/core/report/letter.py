"""The owner's report as a letter: words, text part, HTML part and charts (pure).

Both parts are made from the same list of sections, so the text part
carries every figure the HTML and its charts show. The two built-in
templates (`templates/report.{txt,html}.j2`) only lay the sections out; the
words come from `phrases` and every name and reference enters as data in a
sandboxed environment, escaped in the HTML. An empty period says so and has
no charts.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import jinja2
from babel.dates import format_date, format_timedelta
from babel.numbers import format_percent
from jinja2.sandbox import ImmutableSandboxedEnvironment

from triaged.core.report import charts
from triaged.core.report.figures import CategoryCount, ReportFigures, Spread
from triaged.core.report.phrases import phrases_for
from triaged.domain.records import LetterFile

_TEMPLATES = Path(__file__).parent / "templates"
_env = ImmutableSandboxedEnvironment(
    loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Chart:
    cid: str
    alt: str
    png: bytes


@dataclass(frozen=True)
class Section:
    heading: str
    lines: tuple[str, ...]
    chart: Chart | None = None


@dataclass(frozen=True)
class ReportLetter:
    language: str
    subject: str
    text: str
    # With `cid:` images, for the letter.
    html: str
    # The same with the images inline as data URIs, for `report --html`.
    standalone_html: str
    images: tuple[LetterFile, ...] = field(default=())


class Words:
    """One language's phrases, with Babel's dates, durations and percentages."""

    def __init__(self, language: str) -> None:
        self.language, self._phrases = phrases_for(language)
        self.locale = self.language.replace("-", "_")

    def __call__(self, key: str, **values: object) -> str:
        return self._phrases[key].format(**values)

    def day(self, value: date, form: str = "medium") -> str:
        return format_date(value, form, locale=self.locale)

    def duration(self, seconds: float) -> str:
        return format_timedelta(timedelta(seconds=seconds), threshold=1.5,
                                locale=self.locale)

    def share(self, value: float) -> str:
        return format_percent(value, locale=self.locale)

    def category(self, name: str) -> str:
        return name or self("uncategorised")


def report_letter(figures: ReportFigures, business: str, language: str, *,
                  with_charts: bool = True) -> ReportLetter:
    words = Words(language)
    period = figures.period
    first, last = words.day(period.first), words.day(period.last)
    draw = with_charts and charts.available() and not figures.empty
    sections = _sections(figures, words, draw)
    images = tuple(LetterFile(f"{s.chart.cid.split('@')[0]}.png", "image/png", s.chart.png,
                              inline=True, content_id=s.chart.cid)
                   for s in sections if s.chart)
    context = {"title": words("title"), "business": business,
               "period": words("period", first=first, last=last), "sections": sections,
               "language": words.language}

    def html(sources: dict[str, str]) -> str:
        return _env.get_template("report.html.j2").render(context, sources=sources)

    return ReportLetter(
        language=words.language,
        subject=" ".join(words("subject", business=business, first=first, last=last).split()),
        text=_env.get_template("report.txt.j2").render(context),
        html=html({i.content_id: f"cid:{i.content_id}" for i in images}),
        standalone_html=html({i.content_id: "data:image/png;base64,"
                              + base64.b64encode(i.data).decode("ascii") for i in images}),
        images=images,
    )


def _sections(figures: ReportFigures, words: Words, draw: bool) -> list[Section]:
    if figures.empty:
        sections = [Section(words("received", n=0), (words("empty"),))]
    else:
        sections = [_per_day(figures, words, draw), _categories(figures, words, draw)]
    return [*sections, _promises(figures, words), _times(figures, words),
            _overdue(figures, words), _satisfaction(figures, words), _oldest(figures, words)]


def _per_day(figures: ReportFigures, words: Words, draw: bool) -> Section:
    lines = tuple(f"{words.day(d)}: {n}" for d, n in figures.per_day)
    chart = None
    if draw:
        labels = [words.day(d, "short") if len(figures.per_day) > 14
                  else format_date(d, "EEE d", locale=words.locale) for d, _ in figures.per_day]
        values = ", ".join(lines)
        chart = Chart("per-day@report.triaged", words("chart_days", values=values),
                      charts.per_day(labels, [n for _, n in figures.per_day]))
    return Section(words("per_day"), (words("received", n=figures.received), *lines), chart)


def _categories(figures: ReportFigures, words: Words, draw: bool) -> Section:
    rows: Sequence[CategoryCount] = figures.by_category
    lines = [words("category_line", name=words.category(c.category), now=c.count,
                   before=c.previous) for c in rows]
    rising = [_rising(c, words) for c in figures.rising]
    chart = None
    if draw and rows:
        shown = rows[: charts.MAX_CATEGORIES]
        chart = Chart("categories@report.triaged",
                      words("chart_categories", values="; ".join(lines)),
                      charts.by_category([words.category(c.category) for c in shown],
                                         [c.count for c in shown],
                                         [c.previous for c in shown], words("this_period"),
                                         words("previous_period")))
    return Section(words("by_category"), (*rising, *lines), chart)


def _rising(row: CategoryCount, words: Words) -> str:
    name = words.category(row.category)
    if row.previous == 0:
        return words("new", name=name, now=row.count)
    key = "doubled" if row.count >= 2 * row.previous else "rose"
    return words(key, name=name, now=row.count, before=row.previous)


def _promises(figures: ReportFigures, words: Words) -> Section:
    share = figures.promise_share
    if share is None:
        return Section(words("promises"), (words("no_promises"),))
    return Section(words("promises"), (words(
        "promises_line", kept=figures.on_time, total=figures.on_time + figures.late,
        share=words.share(share), late=figures.late),))


def _times(figures: ReportFigures, words: Words) -> Section:
    def line(key: str, spread: Spread) -> str:
        if spread.median is None or spread.p90 is None:
            return words(f"{key}_none")
        return words(key, median=words.duration(spread.median),
                     p90=words.duration(spread.p90))
    return Section(words("times"), (line("first_reply", figures.first_reply),
                                    line("resolution", figures.resolution)))


def _overdue(figures: ReportFigures, words: Words) -> Section:
    lines = [words("overdue_unescalated", n=n) if level == 0
             else words("overdue_level", level=level, n=n)
             for level, n in sorted(figures.overdue_by_level.items()) if n]
    return Section(words("overdue"), tuple(lines) or (words("overdue_none"),))


def _satisfaction(figures: ReportFigures, words: Words) -> Section:
    return Section(words("satisfaction"), (words(
        "satisfaction_line", settled=figures.settled, reopened=figures.reopened,
        no_answer=figures.no_answer),))


def _oldest(figures: ReportFigures, words: Words) -> Section:
    zone = figures.period.zone
    lines = [words("oldest_line", reference=o.reference,
                   date=words.day(o.received_at.astimezone(zone).date()), state=o.state)
             for o in figures.oldest_open]
    return Section(words("oldest"), tuple(lines) or (words("oldest_none"),))
