"""Which of a complaint's files a letter carries, and names safe to write (pure).

A letter to staff or a manager carries the customer's files as attachments,
same name and same bytes, in order, while their total stays within
`forward_max`; a file past that, a file whose bytes we do not have, or one
that is dangerous to open (executables, scripts, macro documents: by its name,
its declared type, its first bytes, or the names inside a ZIP archive) is
listed instead, with why, and fetched with `triaged attachment REF N`.
"""

from __future__ import annotations

import io
import mimetypes
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

DANGEROUS_EXTENSIONS = frozenset({
    ".exe", ".scr", ".js", ".vbs", ".bat", ".cmd", ".ps1", ".jar", ".msi", ".docm", ".xlsm",
    ".com", ".pif", ".hta", ".wsf", ".vbe", ".jse", ".lnk", ".pptm", ".dll", ".cpl",
})
DANGEROUS_TYPES = frozenset({
    "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
    "application/x-executable", "application/vnd.microsoft.portable-executable",
    "application/x-ms-installer", "application/x-msi", "application/x-ms-shortcut",
    "application/javascript", "text/javascript", "application/x-javascript",
    "text/vbscript", "application/x-vbscript", "application/x-bat", "application/x-msdos-batch",
    "application/x-sh", "application/java-archive", "application/x-java-archive",
    "application/vnd.ms-word.document.macroenabled.12",
    "application/vnd.ms-excel.sheet.macroenabled.12", "application/hta",
    "application/x-powershell",
})
# First bytes of programs: Windows PE ("MZ"), ELF, Mach-O.
_MAGIC = ((b"MZ", "a Windows program"), (b"\x7fELF", "a Linux program"),
          (b"\xcf\xfa\xed\xfe", "a macOS program"), (b"\xfe\xed\xfa\xcf", "a macOS program"))
_ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})
# A ZIP's directory is read only this far: names are enough, nothing is unpacked.
_MAX_ZIP_NAMES = 1_000
MAX_NAME_CHARS = 150
# Python's own table only, not the machine's /etc/mime.types: the same answer everywhere.
_TYPES = mimetypes.MimeTypes(filenames=())


def type_of_name(name: str) -> str:
    """The MIME type a file name suggests ("" when it suggests none)."""
    return _TYPES.guess_type(name, strict=False)[0] or ""


def extension_of_type(content_type: str) -> str:
    """".jpg" for "image/jpeg"; ".bin" when the type names no extension."""
    return _TYPES.guess_extension(content_type.lower(), strict=False) or ".bin"


def extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].strip().rstrip(". ").lower()
    return "." + base.rsplit(".", 1)[1] if "." in base else ""


def danger(name: str, content_type: str, data: bytes) -> str:
    """Why opening this file could run code ("" when it looks like a document or a picture)."""
    ext = extension(name)
    if ext in DANGEROUS_EXTENSIONS:
        return f"a {ext} file can run code when opened"
    if content_type.lower() in DANGEROUS_TYPES:
        return f"its type {content_type} can run code when opened"
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"its content is {what}"
    if data.startswith(b"PK") or content_type.lower() in _ZIP_TYPES or ext == ".zip":
        inner = _dangerous_inside_zip(data)
        if inner:
            return f"the archive holds {inner}, which can run code when opened"
    return ""


def _dangerous_inside_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist()[:_MAX_ZIP_NAMES]:
                if extension(info.filename) in DANGEROUS_EXTENSIONS:
                    return safe_name(info.filename.rsplit("/", 1)[-1], "file")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return ""
    return ""


def safe_name(name: str, fallback: str) -> str:
    """`name` as a plain file name: no folders, no control or format characters, no
    leading dots, at most `MAX_NAME_CHARS`; `fallback` when nothing is left."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(" " if unicodedata.category(c)[0] in ("C", "Z") else c for c in name)
    cleaned = " ".join(cleaned.split()).lstrip(". ").rstrip(". ")
    for bad in ':*?"<>|':
        cleaned = cleaned.replace(bad, "_")
    if not cleaned:
        return fallback
    if len(cleaned) > MAX_NAME_CHARS:
        ext = extension(cleaned)[:20]
        cleaned = cleaned[: MAX_NAME_CHARS - len(ext)] + ext
    return cleaned


@dataclass(frozen=True)
class StoredFile:
    """One kept (or listed) file of a complaint, as a letter sees it."""

    n: int
    name: str
    content_type: str
    size: int
    data: bytes | None  # None: not kept (`reason` says why)
    reason: str = ""
    inline: bool = False
    content_id: str = ""


@dataclass(frozen=True)
class Listed:
    n: int
    name: str
    size: int
    why: str


@dataclass(frozen=True)
class Plan:
    """What a letter carries (`attached`, in order) and what it only lists (`listed`)."""

    attached: tuple[StoredFile, ...]
    listed: tuple[Listed, ...]


# A letter carries at most this many files: a mail client shows a few dozen, not hundreds.
MAX_ATTACHED = 50


def plan(files: Sequence[StoredFile], forward_max: int) -> Plan:
    attached: list[StoredFile] = []
    listed: list[Listed] = []
    total = 0
    for file in files:
        why = file.reason if file.data is None else danger(file.name, file.content_type,
                                                           file.data)
        if not why and total + file.size > forward_max:
            why = f"the letter's files would pass {human_size(forward_max)}"
        if not why and len(attached) >= MAX_ATTACHED:
            why = f"a letter carries at most {MAX_ATTACHED} files"
        if why:
            listed.append(Listed(file.n, file.name, file.size, why))
            continue
        total += file.size
        attached.append(file)
    return Plan(tuple(attached), tuple(listed))


def human_size(size: int) -> str:
    """"512 bytes", "40 KB", "2.5 MB" (binary units, as the config writes them)."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{value / 1024:.1f}".removesuffix(".0") + " GB"
