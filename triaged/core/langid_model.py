"""py3langid's model, mapped from files instead of unpacked into the heap.

py3langid unpacks its 4.5 MB model (an LZMA-compressed npz) into about 75 MB of
Python and NumPy objects, peaking near 110 MB while it does so: most of the
memory budget (≤ 120 MB RSS while ingesting 10 000 messages) spent on a
table of which one complaint reads a few hundred entries. So the model is
unpacked once, by a child process (its peak is not ours), into plain files in
a cache directory, and each triaged process maps them read-only: the kernel
pages in what the texts touch, may drop those clean pages again under memory
pressure, and shares them between processes.

Anything wrong with the cache (no writable directory, a failed build) falls
back to py3langid's own in-memory loading: detection never depends on it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
import mmap
import os
import shutil
import subprocess
import sys
import tempfile
from array import array
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger("triaged.language")

# Bump when the files' layout changes: old caches are then simply not used.
LAYOUT = 2
BUILD_TIMEOUT_SECONDS = 120


def load_identifier() -> Any:
    """py3langid's LanguageIdentifier (normalised probabilities), mapped when possible."""
    langid = importlib.import_module("py3langid.langid")
    source = _model_path(langid)
    folder = _cache_folder(source)
    if folder is not None and (folder.is_dir() or _build_in_child(source, folder)):
        try:
            return _mapped(langid, folder)
        except (OSError, ValueError, KeyError) as error:
            log.warning("language model cache %s unusable (%s); loading it into memory",
                        folder, error)
    return langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)


def _model_path(langid: Any) -> Path:
    path = Path(langid.MODEL_FILE)
    return path if path.is_absolute() else Path(langid.MODEL_DIR) / path


def _cache_root() -> Path:
    """systemd's CacheDirectory=, else the XDG cache folder of the user."""
    if os.environ.get("CACHE_DIRECTORY"):
        # systemd may list several, colon-separated; the first is ours.
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "triaged"


def _cache_folder(source: Path) -> Path | None:
    try:
        stat = source.stat()
        version = importlib.metadata.version("py3langid")
    except (OSError, importlib.metadata.PackageNotFoundError):
        return None
    # Size and mtime stand for the model's contents: a reinstall gets a new folder.
    key = f"py3langid-{version}-{stat.st_size}-{stat.st_mtime_ns}-{sys.byteorder}-v{LAYOUT}"
    return _cache_root() / key


def _build_in_child(source: Path, folder: Path) -> bool:
    """Unpack the model in a child process; False (and one warning) when that fails."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "triaged.core.langid_model", str(source), str(folder)],
            capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("cannot unpack the language model into %s: %s", folder.parent, error)
        return False
    if done.returncode != 0 or not folder.is_dir():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        log.warning("cannot unpack the language model into %s: %s", folder.parent, last)
        return False
    return True


def build(source: Path, folder: Path) -> None:
    """Write the model's arrays as raw files, then move the folder into place at once."""
    modelio = importlib.import_module("py3langid.modelio")
    ptc, pc, classes, nextmove, row, output = modelio.load_model(source)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        table = np.ascontiguousarray(ptc, dtype=np.float16)
        table.tofile(staging / "ptc.bin")
        np.save(staging / "pc.npy", np.asarray(pc))
        (staging / "classes.json").write_text(json.dumps(list(classes)))
        _write_array(staging / "nextmove.bin", nextmove)
        _write_array(staging / "row.bin", row)
        _write_array(staging / "output.bin", array("i", output))
        (staging / "typecodes.json").write_text(json.dumps(
            {"nextmove": nextmove.typecode, "row": row.typecode, "output": "i",
             "ptc_shape": list(table.shape)}))
        try:
            staging.rename(folder)
        except OSError:
            if not folder.is_dir():  # else another process built it first: use theirs
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_array(path: Path, values: array[int]) -> None:
    with path.open("wb") as out:
        values.tofile(out)


def _mapped(langid: Any, folder: Path) -> Any:
    typecodes = json.loads((folder / "typecodes.json").read_text())
    rows, columns = typecodes["ptc_shape"]
    table = np.frombuffer(_mapping(folder / "ptc.bin"), dtype=np.float16)
    return langid.LanguageIdentifier(
        table.reshape(int(rows), int(columns)),
        np.load(folder / "pc.npy"),
        json.loads((folder / "classes.json").read_text()),
        _map(folder / "nextmove.bin", typecodes["nextmove"]),
        _read(folder / "output.bin", typecodes["output"]),
        norm_probs=True,
        tk_row=_read(folder / "row.bin", typecodes["row"]),
    )


# The typecodes py3langid stores the DFA in (an unknown one is a KeyError: no cache).
_UNSIGNED: dict[str, Literal["H", "I", "L"]] = {"H": "H", "I": "I", "L": "L"}


def _map(path: Path, typecode: str) -> memoryview:
    """A read-only view of the file's numbers; the mapping lives as long as the view."""
    return memoryview(_mapping(path)).cast(_UNSIGNED[typecode])


def _mapping(path: Path) -> mmap.mmap:
    with path.open("rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    # A text touches a few hundred scattered rows: without these hints the kernel
    # reads ahead and maps whole 2 MB huge pages around each one (measured: 15 MB
    # resident of the 28 MB table after 1000 complaints, instead of a few).
    for advice in ("MADV_RANDOM", "MADV_NOHUGEPAGE"):
        if hasattr(mmap, advice):
            mapped.madvise(getattr(mmap, advice))
    return mapped


def _read(path: Path, typecode: str) -> array[int]:
    values = array(typecode)
    values.frombytes(path.read_bytes())
    return values


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
