"""Sandboxed Jinja2 rendering of letter templates.

Templates live under `<dir>/<language>/<kind>.{subject,txt,html}.j2`. The
business's own folder is searched first, then the built-in letters. Customer
text only ever enters as a variable: it is data, never template source, and
the sandbox keeps even a hostile override template away from Python objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Every built-in letter exists in English: the last resort when neither the
# wanted language nor the business's has a template of the kind.
FALLBACK_LANGUAGE = "en"


def builtin_templates_dir() -> Path:
    """The built-in `templates/replies`: inside the wheel, or at the repository root."""
    package = Path(__file__).resolve().parents[2]  # triaged/core/letters/ -> triaged/
    installed = package / "_templates" / "replies"
    if installed.is_dir():
        return installed
    return package.parent / "templates" / "replies"


@dataclass(frozen=True)
class RenderedParts:
    subject: str
    text: str
    html: str


class Renderer:
    """Renders letter kinds in a language, falling back to the default language."""

    def __init__(self, override_dir: str | Path = "", default_language: str = "en") -> None:
        dirs = [str(Path(override_dir))] if override_dir else []
        dirs.append(str(builtin_templates_dir()))
        self._dirs = tuple(Path(d) for d in dirs)
        self.default_language = default_language
        self._env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(dirs),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            # Templates are read once, when triaged starts or reloads (SIGHUP builds a
            # new renderer): not a stat of each file for every letter written.
            auto_reload=False,
        )
        self._has: dict[tuple[str, str], bool] = {}

    @cached_property
    def languages(self) -> frozenset[str]:
        """Every language some template folder offers."""
        found: set[str] = set()
        for base in self._dirs:
            if base.is_dir():
                found.update(p.name for p in base.iterdir() if p.is_dir())
        return frozenset(found)

    def has(self, language: str, kind: str) -> bool:
        known = self._has.get((language, kind))
        if known is None:
            known = any((d / language / f"{kind}.txt.j2").is_file() for d in self._dirs)
            self._has[(language, kind)] = known
        return known

    def pick_language(self, wanted: str, kind: str) -> str:
        """`wanted` when a template exists for it (or its base language), else the default.

        The default is the business's language; a business whose language has
        no letter of this kind (a "vi" shop with only a Vietnamese holding
        reply, say) gets English rather than a missing template.
        """
        default = self.default_language
        for candidate in (wanted, wanted.split("-")[0], default, default.split("-")[0]):
            if candidate and self.has(candidate, kind):
                return candidate
        return FALLBACK_LANGUAGE

    def internal_language(self, kind: str) -> str:
        """The language of a letter to staff or managers: the business's, else English.

        Staff read the business's language whatever the customer wrote in; a
        business folder that adds or overrides these letters is found the same way.
        """
        return self.pick_language(self.default_language, kind)

    def render(self, language: str, kind: str, context: Mapping[str, Any]) -> RenderedParts:
        """Render subject, text and HTML. Raises jinja2.TemplateError on a broken template."""
        def one(part: str) -> str:
            return self._env.get_template(f"{language}/{kind}.{part}.j2").render(context)

        subject = " ".join(one("subject").split())
        return RenderedParts(subject=subject, text=one("txt"), html=one("html"))
