"""Stored messages: duplicates (same bytes, or same Message-ID, sender, date and text),
threading by Message-ID, the quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from triaged.core import follow_ups
from triaged.core.follow_ups import Speaker
from triaged.domain.records import Outcome
from triaged.store import complaints, messages, outbox, rows
from triaged.store.db import make_engine, transaction
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
    with transaction(engine) as session:
        original = messages.add_message(session, **_fields())
        found = messages.find_duplicate(session, **probe)
    assert (found is not None) == is_duplicate
    if is_duplicate:
        assert found is not None
        assert found.id == original.id


def test_a_duplicate_points_at_the_original_not_at_another_duplicate(engine: Engine) -> None:
    with transaction(engine) as session:
        original = messages.add_message(session, **_fields())
        messages.add_message(
            session,
            **_fields(raw=None, outcome=Outcome.DUPLICATE.value, duplicate_of=original.id, uid=2),
        )
        found = messages.find_duplicate(session, **_lookup(sha256="hash-1"))
    assert found is not None
    assert found.id == original.id


def test_stored_text_is_capped_and_still_matches_its_duplicate(engine: Engine) -> None:
    huge = "x" * (messages.TEXT_CAP + 50)
    with transaction(engine) as session:
        row = messages.add_message(session, **_fields(text=huge))
        found = messages.find_duplicate(session, **_lookup(text=huge))
    assert len(row.text) == messages.TEXT_CAP
    assert found is not None


def _complaint(session: Any, reference: str, at: datetime,
               customer: str = "ana@example.com") -> int:
    complaint = complaints.register(
        session,
        reference=reference,
        mailbox="support",
        customer_email=customer,
        customer_name="Ana",
        subject="Broken oven",
        language="en",
        received_at=at,
        due_at=at + timedelta(days=5),
        message_row=None,
        now=at,
    )
    assert complaint.id is not None
    return complaint.id


def test_our_letters_ids_win_and_a_reused_id_never_routes_another_senders_mail(
    engine: Engine,
) -> None:
    ana = Speaker.of(["Ana+shop@Example.com"], staff=False)
    with transaction(engine) as session:
        first = _complaint(session, "AAA-1111", NOW)
        second = _complaint(session, "BBB-2222", NOW + timedelta(hours=1))
        theirs = _complaint(session, "CCC-3333", NOW + timedelta(hours=2),
                            customer="mallory@example.com")
        messages.add_message(
            session, **_fields(message_id="<in@x>", complaint_id=first, received_at=NOW)
        )
        # Someone else reuses Ana's Message-ID later: it must never route Ana's mail.
        messages.add_message(
            session, **_fields(message_id="<in@x>", complaint_id=theirs, uid=2, sha256="h2",
                               sender="mallory@example.com",
                               received_at=NOW + timedelta(hours=2))
        )
        outbox.enqueue(
            session,
            complaint_id=second,
            kind="holding",
            to_email="ana@example.com",
            message_id="<ours@acme.example>",
            subject="Re: Broken oven [BBB-2222]",
            raw=b"letter",
            automatic=True,
            now=NOW + timedelta(hours=1),
        )
        conn = session.connection()

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
        ours = messages.is_our_message_id(session, "ours@acme.example")
        not_ours = messages.is_our_message_id(session, "<in@x>")
    assert only_incoming == ("AAA-1111", ""), "Ana's own first mail, not the later reuse"
    assert both == ("BBB-2222", ""), "our letter's id wins over an incoming one"
    assert mallory == ("CCC-3333", ""), "the reuser's id routes only the reuser's mail"
    assert stranger == ("", "AAA-1111"), "a stranger naming Ana's id is linked, not attached"
    assert staff == ("BBB-2222", "")
    assert neither == []
    assert ours
    assert not not_ours


def test_quarantined_messages_are_listed_until_replayed_or_discarded(engine: Engine) -> None:
    with transaction(engine) as session:
        bad = messages.add_message(session, **_fields(sha256="bad-1", uid=1))
        worse = messages.add_message(session, **_fields(sha256="bad-2", uid=2))
        first = messages.quarantine(session, bad, "undecodable headers", NOW)
        second = messages.quarantine(session, worse, "no sender", NOW)
    with transaction(engine) as session:
        open_before = [(q.reason, m.sha256) for q, m in messages.list_quarantine(session)]
        assert first.id is not None
        assert second.id is not None
        messages.set_quarantine_state(session, first.id, "replayed", NOW, actor="cli:ops")
        open_after = [q.id for q, _ in messages.list_quarantine(session)]
        everything = [q.state for q, _ in messages.list_quarantine(session, state=None)]
        shown = messages.get_quarantine(session, first.id)
        stored = session.exec(select(MessageRow).where(MessageRow.sha256 == "bad-1")).one()
        logged = session.exec(select(Event).where(Event.kind == "quarantine_replayed")).one()
    assert open_before == [("undecodable headers", "bad-1"), ("no sender", "bad-2")]
    assert open_after == [second.id]
    assert everything == ["replayed", "open"]
    assert shown is not None
    assert shown[1].raw == b"raw bytes"
    assert stored.outcome == Outcome.QUARANTINED.value
    assert logged.actor == "cli:ops"


@pytest.mark.parametrize(
    ("first", "second"),
    [("replayed", "discarded"), ("discarded", "discarded"), ("open", None), ("gone", None)],
)
def test_quarantine_entries_only_leave_the_open_state_once(
    engine: Engine, first: str, second: str | None
) -> None:
    with transaction(engine) as session:
        parked = messages.quarantine(session, messages.add_message(session, **_fields()), "x", NOW)
        assert parked.id is not None
        if second is None:
            with pytest.raises(ValueError, match=first):
                messages.set_quarantine_state(session, parked.id, first, NOW)
            return
        messages.set_quarantine_state(session, parked.id, first, NOW)
        with pytest.raises(ValueError, match="already"):
            messages.set_quarantine_state(session, parked.id, second, NOW)


def test_an_unknown_quarantine_id_is_reported(engine: Engine) -> None:
    with transaction(engine) as session:
        assert messages.get_quarantine(session, 42) is None
        with pytest.raises(LookupError):
            messages.set_quarantine_state(session, 42, "discarded", NOW)
