"""Stored messages: duplicates (same bytes, or same Message-ID, sender, date and text),
threading by Message-ID, the quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine
from sqlmodel import Session, select

from tests import stored
from triaged.core import follow_ups
from triaged.core.follow_ups import Speaker
from triaged.domain.records import Outcome
from triaged.store import outbox_rows, quarantine_rows, rows
from triaged.store.db import make_engine, transaction, write_transaction
from triaged.store.models import Event, MessageRow

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SENT = datetime(2026, 5, 4, 8, 55, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "mailbox": "support",
        "folder": "INBOX",
        "uidvalidity": 7,
        "uid": 1,
        "message_id": "<abc@mail.example>",
        "sha256": "hash-1",
        "raw": b"raw bytes",
        "size": 9,
        "sender": "ana@example.com",
        "subject": "Broken oven",
        "sent_date": SENT,
        "text": "My oven arrived broken.",
        "outcome": Outcome.COMPLAINT.value,
        "rule": "complaint",
        "received_at": NOW,
    }
    fields.update(overrides)
    return fields


def _row(fields: dict[str, Any]) -> rows.IncomingRow:
    return rows.IncomingRow(**{**fields, "outcome": Outcome(fields["outcome"])})


def _lookup(**overrides: Any) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "sha256": "hash-2",
        "message_id": "<abc@mail.example>",
        "sender": "ana@example.com",
        "sent_date": SENT,
        "text": "My oven arrived broken.",
    }
    probe.update(overrides)
    return probe


@pytest.mark.parametrize(
    ("probe", "is_duplicate"),
    [
        pytest.param(_lookup(sha256="hash-1", message_id="<other@x>"), True, id="same raw bytes"),
        pytest.param(_lookup(), True, id="same id, sender, date and text (re-encoded copy)"),
        pytest.param(_lookup(sender="ANA@Example.com"), True, id="sender case differs"),
        pytest.param(
            _lookup(sent_date=SENT.astimezone(timezone(timedelta(hours=9)))),
            True,
            id="same date in another offset",
        ),
        pytest.param(_lookup(text="A different complaint."), False, id="reused id, new text"),
        pytest.param(_lookup(sender="bob@example.com"), False, id="reused id, other sender"),
        pytest.param(
            _lookup(sent_date=SENT + timedelta(minutes=1)), False, id="reused id, other date"
        ),
        pytest.param(_lookup(sent_date=None), False, id="reused id, no date"),
        pytest.param(_lookup(message_id="<new@x>"), False, id="new mail"),
        pytest.param(_lookup(message_id=""), False, id="no message id"),
    ],
)
def test_duplicates_are_found_by_hash_or_by_message_id_with_same_content(
    engine: Engine, probe: dict[str, Any], is_duplicate: bool
) -> None:
    with write_transaction(engine) as conn:
        original = rows.insert_message(conn, _row(_fields()))
        found = rows.duplicate_of(conn, **probe)
    assert (found is not None) == is_duplicate
    if is_duplicate:
        assert found is not None
        assert found == original


def test_a_duplicate_points_at_the_original_not_at_another_duplicate(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        original = rows.insert_message(conn, _row(_fields()))
        rows.insert_message(
            conn,
            _row(_fields(raw=None, outcome=Outcome.DUPLICATE.value, duplicate_of=original, uid=2)),
        )
        found = rows.duplicate_of(conn, **_lookup(sha256="hash-1"))
    assert found is not None
    assert found == original


def test_stored_text_is_capped_and_still_matches_its_duplicate(engine: Engine) -> None:
    huge = "x" * (rows.TEXT_CAP + 50)
    with write_transaction(engine) as conn:
        row_id = rows.insert_message(conn, _row(_fields(text=huge)))
        found = rows.duplicate_of(conn, **_lookup(text=huge))
    with transaction(engine) as session:
        row = session.get(MessageRow, row_id)
    assert row is not None
    assert len(row.text) == rows.TEXT_CAP
    assert found is not None


def _complaint(conn: Connection, reference: str, at: datetime,
               customer: str = "ana@example.com") -> int:
    return stored.register(conn, reference, received_at=at, customer_email=customer,
                           with_message=False)


def test_our_letters_ids_win_and_a_reused_id_never_routes_another_senders_mail(
    engine: Engine,
) -> None:
    ana = Speaker.of(["Ana+shop@Example.com"], staff=False)
    with write_transaction(engine) as conn:
        first = _complaint(conn, "AAA-1111", NOW)
        second = _complaint(conn, "BBB-2222", NOW + timedelta(hours=1))
        theirs = _complaint(conn, "CCC-3333", NOW + timedelta(hours=2),
                            customer="mallory@example.com")
        rows.insert_message(
            conn, _row(_fields(message_id="<in@x>", complaint_id=first, received_at=NOW))
        )
        # Someone else reuses Ana's Message-ID later: it must never route Ana's mail.
        rows.insert_message(
            conn, _row(_fields(message_id="<in@x>", complaint_id=theirs, uid=2, sha256="h2",
                               sender="mallory@example.com",
                               received_at=NOW + timedelta(hours=2)))
        )
        outbox_rows.queue_letter(
            conn,
            complaint_id=second,
            kind="holding",
            to_email="ana@example.com",
            message_id="<ours@acme.example>",
            subject="Re: Broken oven [BBB-2222]",
            raw=b"letter",
            automatic=True,
            now=NOW + timedelta(hours=1),
        )

        def thread(*ids: str, speaker: Speaker = ana) -> tuple[str, str]:
            named = follow_ups.named_ids(ids, ())
            found = follow_ups.by_ids(rows.known_ids(conn, named), named, speaker)
            return (found.own.reference if found.own else "",
                    found.other.reference if found.other else "")

        only_incoming = thread("in@x")
        both = thread("<in@x>", "<ours@acme.example>")
        mallory = thread("<in@x>", speaker=Speaker.of(["mallory@example.com"], staff=False))
        stranger = thread("<in@x>", speaker=Speaker.of(["eve@example.com"], staff=False))
        staff = thread("<ours@acme.example>", speaker=Speaker.of(["team@acme.example"],
                                                                  staff=True))
        neither = rows.known_ids(conn, ["<unknown@x>", ""])
        ours = rows.is_our_message_id(conn, "ours@acme.example")
        not_ours = rows.is_our_message_id(conn, "<in@x>")
    assert only_incoming == ("AAA-1111", ""), "Ana's own first mail, not the later reuse"
    assert both == ("BBB-2222", ""), "our letter's id wins over an incoming one"
    assert mallory == ("CCC-3333", ""), "the reuser's id routes only the reuser's mail"
    assert stranger == ("", "AAA-1111"), "a stranger naming Ana's id is linked, not attached"
    assert staff == ("BBB-2222", "")
    assert neither == []
    assert ours
    assert not not_ours


def _park(conn: Connection, reason: str, **overrides: Any) -> int:
    """Store a message as intake stores one it cannot process, and park it."""
    row_id = rows.insert_message(conn, _row(_fields(outcome=Outcome.QUARANTINED.value,
                                                 reason=reason, **overrides)))
    return quarantine_rows.insert_quarantine(conn, row_id, reason, NOW)


def test_quarantined_messages_are_listed_until_replayed_or_discarded(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        first = _park(conn, "undecodable headers", sha256="bad-1", uid=1)
        second = _park(conn, "no sender", sha256="bad-2", uid=2)
    with write_transaction(engine) as conn, Session(bind=conn) as session:
        open_before = [(p.reason, p.sha256) for p in quarantine_rows.list_quarantine(conn)]
        quarantine_rows.set_quarantine_state(conn, first, "replayed", NOW, actor="cli:ops")
        open_after = [p.id for p in quarantine_rows.list_quarantine(conn)]
        everything = [p.state for p in quarantine_rows.list_quarantine(conn, state=None)]
        shown = quarantine_rows.get_quarantine(conn, first)
        kept = session.exec(select(MessageRow).where(MessageRow.sha256 == "bad-1")).one()
        logged = session.exec(select(Event).where(Event.kind == "quarantine_replayed")).one()
    assert open_before == [("undecodable headers", "bad-1"), ("no sender", "bad-2")]
    assert open_after == [second]
    assert everything == ["replayed", "open"]
    assert shown is not None
    assert shown.raw == b"raw bytes"
    assert kept.outcome == Outcome.QUARANTINED.value
    assert logged.actor == "cli:ops"


@pytest.mark.parametrize(
    ("first", "second"),
    [("replayed", "discarded"), ("discarded", "discarded"), ("open", None), ("gone", None)],
)
def test_quarantine_entries_only_leave_the_open_state_once(
    engine: Engine, first: str, second: str | None
) -> None:
    with write_transaction(engine) as conn:
        parked = _park(conn, "x")
        if second is None:
            with pytest.raises(ValueError, match=first):
                quarantine_rows.set_quarantine_state(conn, parked, first, NOW)
            return
        quarantine_rows.set_quarantine_state(conn, parked, first, NOW)
        with pytest.raises(ValueError, match="already"):
            quarantine_rows.set_quarantine_state(conn, parked, second, NOW)


def test_an_unknown_quarantine_id_is_reported(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        assert quarantine_rows.get_quarantine(conn, 42) is None
        with pytest.raises(LookupError):
            quarantine_rows.set_quarantine_state(conn, 42, "discarded", NOW)
