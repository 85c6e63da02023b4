"""One tree of errors, each raised by a real path with a message that says what to do."""

from __future__ import annotations

import inspect
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.ports import free_port
from triaged.adapters.imap import ImapSettings, ImapSource
from triaged.config.loading import from_mapping, load
from triaged.core.decision import parse_decision
from triaged.core.letters.render import Renderer
from triaged.core.parse.message import parse_message
from triaged.domain import errors
from triaged.domain.errors import (
    ApprovalRefused,
    BackupError,
    ConfigError,
    ExportError,
    PermanentError,
    QuarantineError,
    SchemaMismatch,
    TemplateFailure,
    TransientError,
    TriagedError,
    UnknownReference,
)
from triaged.ops.checks_templates import render_language
from triaged.store.backup import sqlite_path
from triaged.store.db import ensure_schema, make_engine, transaction, write_transaction
from triaged.store.export import import_rows
from triaged.usecases import lookup
from triaged.usecases.promises import parse_extension

MINIMAL: dict[str, Any] = {
    "business": {"name": "Acme Bakery"},
    "mailboxes": [{"address": "support@acme.example", "host": "imap.acme.example"}],
    "smtp": {"host": "smtp.acme.example"},
    "database": {"url": "sqlite:////var/lib/triaged/triaged.db"},
}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_every_error_triaged_raises_on_purpose_is_a_triaged_error() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, BaseException)]

    assert {c.__name__ for c in classes} == {
        "TriagedError", "ConfigError", "TransientError", "PermanentError", "QuarantineError",
        "UnknownReference", "ApprovalRefused", "SchemaMismatch", "BackupError", "ExportError",
        "TemplateFailure", "ForbiddenMove",
    }
    assert all(issubclass(c, TriagedError) for c in classes)


def test_a_config_with_mistakes_is_a_config_error_listing_each(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[business]\nname = "Acme"\n[smtp]\nhots = "x"\n')

    with pytest.raises(ConfigError) as raised:
        load(path)

    assert any("mailboxes" in problem for problem in raised.value.problems)
    assert any("smtp.hots" in problem for problem in raised.value.problems)




def test_an_imap_server_that_is_away_is_a_transient_error() -> None:
    settings = ImapSettings("127.0.0.1", free_port(), "plain", "support", lambda: "pw",
                            timeout=5)

    with pytest.raises(TransientError, match="support"):
        ImapSource("support", settings).connect()


class _ServerWithoutTheFolder:
    """Just enough of an IMAP client: logs in, knows no folder."""

    normalise_times = True

    def __init__(self, *_: object, **__: object) -> None:
        self._socket = socket.socket()

    def socket(self) -> socket.socket:
        return self._socket

    def login(self, username: str, password: str) -> None:
        pass

    def folder_exists(self, folder: str) -> bool:
        return False

    def logout(self) -> None:
        self._socket.close()


def test_a_missing_imap_folder_is_a_permanent_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("triaged.adapters.imap.imapclient.IMAPClient", _ServerWithoutTheFolder)
    settings = ImapSettings("imap.acme.example", 143, "plain", "support", lambda: "pw",
                            folder="Support")

    with pytest.raises(PermanentError, match="folder 'Support' does not exist"):
        ImapSource("support", settings).probe()


def test_a_message_without_a_sender_is_a_quarantine_error() -> None:
    with pytest.raises(QuarantineError):
        parse_message(b"Subject: no sender here\r\n\r\nbody\r\n")


def test_a_well_formed_reference_of_no_complaint_is_unknown(engine: Engine) -> None:
    with transaction(engine) as session, pytest.raises(UnknownReference) as shown:
        lookup.complaint_detail(session, "K7M-Q3X9")
    with write_transaction(engine) as conn, pytest.raises(UnknownReference) as decided:
        lookup.complaint_facts(conn, "K7M-Q3X9")

    for raised in (shown, decided):
        assert raised.value.reference == "K7M-Q3X9"
        assert "no complaint K7M-Q3X9" in str(raised.value)
        assert "triaged list" in str(raised.value), "says where to find the right one"


def test_a_reply_or_command_that_does_not_count_is_refused_with_the_reason() -> None:
    with pytest.raises(ApprovalRefused, match="no decision found: reply with APPROVE"):
        parse_decision("Looks fine to me")
    with pytest.raises(ApprovalRefused, match="EXTEND 3 business days"):
        parse_extension("a while")


def test_a_schema_behind_without_migrate_on_start_is_a_mismatch(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        with pytest.raises(SchemaMismatch, match="run `triaged migrate`") as raised:
            ensure_schema(engine, migrate_on_start=False)
    finally:
        engine.dispose()

    assert raised.value.ahead is False


def test_a_backup_of_a_database_that_is_not_sqlite_says_what_to_use() -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        sqlite_path("postgresql://triaged@db.acme.example/triaged")


def test_an_import_of_a_file_that_is_no_export_says_so(engine: Engine) -> None:
    with pytest.raises(ExportError, match="line 1 is not a triaged export header"):
        import_rows(engine, io.StringIO('{"type": "row"}\n'))


def test_a_template_that_does_not_render_is_a_template_failure(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "holding.txt.j2").write_text("Dear {{ customer.name }\n")
    config = from_mapping(MINIMAL, tmp_path)

    with pytest.raises(TemplateFailure, match="holding"):
        render_language(config, Renderer(tmp_path, "en"), "en")
