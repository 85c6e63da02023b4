"""The language model mapped from a cache reads texts exactly as py3langid's own loading."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from triaged.core import langid_model

TEXTS = [
    "Hello, the cake I ordered arrived crushed and I would like a refund.",
    "주문한 케이크가 망가진 채로 도착했어요. 환불해 주세요.",
    "注文したケーキが潰れて届きました。返金をお願いします。",
    "เค้กที่สั่งมาถึงในสภาพบุบ ขอคืนเงินด้วยค่ะ",
    "Tortul comandat a sosit strivit, vă rog să-mi returnați banii.",
    "Nasira po ang cake na inorder ko, gusto ko pong ma-refund.",
    "Die Torte kam zerdrückt an, bitte erstatten Sie mir den Betrag.",
    "Le gâteau est arrivé écrasé, je voudrais être remboursée.",
    "",
]


@pytest.fixture(scope="module")
def reference() -> Any:
    langid = importlib.import_module("py3langid.langid")
    return langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)


def test_the_mapped_model_ranks_every_text_as_py3langid_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Any
) -> None:
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "cache"))

    mapped = langid_model.load_identifier()

    built = list((tmp_path / "cache").iterdir())
    assert [folder.name.startswith("py3langid-") for folder in built] == [True]
    assert isinstance(mapped.tk_nextmove, memoryview), "the DFA is mapped, not in the heap"
    for text in TEXTS:
        assert mapped.rank(text)[:5] == reference.rank(text)[:5], text


def test_a_second_load_uses_the_cache_without_building_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))
    langid_model.load_identifier()
    (folder,) = tmp_path.iterdir()
    stamp = (folder / "ptc.bin").stat().st_mtime_ns

    again = langid_model.load_identifier()

    assert (folder / "ptc.bin").stat().st_mtime_ns == stamp
    assert again.classify(TEXTS[1])[0] == "ko"


def test_a_cache_that_cannot_be_made_falls_back_to_loading_into_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A file where the folder should be: not even root can create the cache there.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CACHE_DIRECTORY", str(blocker / "triaged"))

    identifier = langid_model.load_identifier()

    assert identifier.classify(TEXTS[0])[0] == "en"
    assert "cannot unpack the language model" in caplog.text


def test_a_damaged_cache_is_reported_and_detection_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))
    langid_model.load_identifier()
    (folder,) = tmp_path.iterdir()
    (folder / "typecodes.json").write_text("{}")

    identifier = langid_model.load_identifier()

    assert identifier.classify(TEXTS[6])[0] == "de"
    assert "unusable" in caplog.text
