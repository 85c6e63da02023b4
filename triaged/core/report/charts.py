"""The owner's report's charts as PNG bytes, drawn with matplotlib's Agg backend.

matplotlib is an optional extra (`triaged[report]`): without it `available()`
is False, the letter goes without pictures (its text carries every figure)
and `triaged check` says so. Charts are 600 pixels wide (a phone's screen at
twice its density shows them sharp at 300 points) and readable in grey-scale:
this period is solid dark grey, the previous one light grey and hatched, and
every bar carries its number.

Names on the charts are drawn as plain text: `$` would start matplotlib's
maths notation, so it is escaped. Korean, Japanese and Thai names need the
Noto CJK and Thai (TLWG) fonts; without them those glyphs show as boxes.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence
from functools import cache
from typing import Any

WIDTH_INCHES = 6.0
DPI = 100
DARK = "#333333"
LIGHT = "#bbbbbb"
# Tried in order for each glyph (matplotlib ≥ 3.6 falls back per character).
FONTS = ["DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK KR", "Loma", "Garuda",
         "Noto Sans Thai"]
MAX_CATEGORIES = 8


# The scripts whose names need more than DejaVu Sans, and fonts that have them.
SCRIPT_FONTS = {"Japanese and Korean": ("Noto Sans CJK JP", "Noto Sans CJK KR"),
                "Thai": ("Loma", "Garuda", "Noto Sans Thai")}


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def missing_fonts() -> list[str]:
    """The scripts no installed font draws on the charts (for `triaged check`)."""
    _pyplot()
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return [script for script, fonts in SCRIPT_FONTS.items() if not installed & set(fonts)]


@cache
def _pyplot() -> Any:
    import matplotlib  # optional (triaged[report]): loaded on the first chart

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    matplotlib.rcParams["font.family"] = [f for f in FONTS if f in installed] or ["sans-serif"]
    matplotlib.rcParams["svg.fonttype"] = "none"
    return plt


def _ticker() -> Any:
    _pyplot()
    from matplotlib import ticker

    return ticker


def plain(text: str) -> str:
    """`text` as matplotlib draws it literally (no maths between dollar signs)."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, bbox_inches="tight",
                   metadata={"Software": None})
    _pyplot().close(figure)
    return out.getvalue()


def per_day(labels: Sequence[str], counts: Sequence[int]) -> bytes:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(WIDTH_INCHES, 2.4))
    positions = range(len(counts))
    bars = axes.bar(positions, counts, color=DARK, width=0.7)
    axes.bar_label(bars, labels=[str(c) if c else "" for c in counts], padding=2, fontsize=9)
    axes.set_xticks(list(positions), [plain(label) for label in labels],
                    fontsize=8 if len(labels) <= 14 else 6,
                    rotation=0 if len(labels) <= 14 else 90)
    _tidy(axes, max(counts, default=0))
    axes.yaxis.set_major_locator(_ticker().MaxNLocator(integer=True))
    return _png(figure)


def by_category(names: Sequence[str], now: Sequence[int], before: Sequence[int],
                this_label: str, previous_label: str) -> bytes:
    plt = _pyplot()
    shown = list(zip(names, now, before, strict=True))[:MAX_CATEGORIES]
    height = 0.9 + 0.45 * len(shown)
    figure, axes = plt.subplots(figsize=(WIDTH_INCHES, height))
    rows = list(range(len(shown)))[::-1]
    ours = axes.barh([r + 0.2 for r in rows], [s[1] for s in shown], height=0.4, color=DARK,
                     label=plain(this_label))
    theirs = axes.barh([r - 0.2 for r in rows], [s[2] for s in shown], height=0.4,
                       color=LIGHT, hatch="///", edgecolor="#777777",
                       label=plain(previous_label))
    axes.bar_label(ours, padding=2, fontsize=9)
    axes.bar_label(theirs, padding=2, fontsize=8, color="#555555")
    axes.set_yticks(rows, [plain(_short(s[0])) for s in shown], fontsize=9)
    axes.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True))
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_xlim(0, max([1, *(s[1] for s in shown), *(s[2] for s in shown)]) * 1.15)
    axes.tick_params(axis="x", labelsize=8)
    return _png(figure)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _tidy(axes: Any, top: int) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_ylim(0, max(1, top) * 1.18)
    axes.tick_params(axis="y", labelsize=8)
