"""follow_ups: which complaint a message continues, and who may continue it."""

from __future__ import annotations

from triaged.core.follow_ups import MAX_IDS, Speaker, Thread, by_ids, choose, named_ids
from triaged.domain.records import ComplaintRef, ComplaintState, KnownId

MARIA = ComplaintRef(1, "AAA-1111", ComplaintState.RESOLVED, "Maria@Example.com")
MALLORY = ComplaintRef(2, "BBB-2222", ComplaintState.RECEIVED, "mallory@example.org")
MARIA_2 = ComplaintRef(3, "CCC-3333", ComplaintState.RECEIVED, "maria@example.com")
maria = Speaker.of(["maria+phone@EXAMPLE.com"], staff=False)
mallory = Speaker.of(["mallory@example.org"], staff=False)


def hit(message_id: str, complaint: ComplaintRef, *, sender: str = "", seen: int = 1
        ) -> KnownId:
    return KnownId(message_id, complaint, not sender, sender, seen)


def test_named_ids_are_in_reply_to_then_references_nearest_first_each_once() -> None:
    assert named_ids(["<c@x>"], ["<a@x>", "b@x", "<c@x>"]) == ["c@x", "b@x", "a@x"]
    assert len(named_ids([], [f"<{n}@x>" for n in range(500)])) == MAX_IDS


def test_only_the_customer_in_any_spelling_or_staff_may_continue() -> None:
    assert choose([MARIA], maria) == Thread(own=MARIA)
    assert choose([MARIA], mallory) == Thread(other=MARIA)
    assert choose([MARIA], Speaker.of(["team@acme.example"], staff=True)) == Thread(own=MARIA)
    assert choose([], mallory) == Thread()


def test_our_letters_win_and_then_the_messages_own_order_not_the_latest_mail() -> None:
    hits = [hit("in@x", MARIA_2, sender="maria@example.com", seen=1), hit("ours@x", MARIA)]
    assert by_ids(hits, ["in@x", "ours@x"], maria).own == MARIA

    two = [hit("old@x", MARIA, sender="maria@example.com", seen=1),
           hit("new@x", MARIA_2, sender="maria@example.com", seen=9)]
    assert by_ids(two, ["old@x", "new@x"], maria).own == MARIA, "In-Reply-To first"


def test_a_reused_id_routes_only_its_first_senders_mail_to_her_complaint() -> None:
    hits = [hit("m@x", MARIA, sender="maria@example.com", seen=1),
            hit("m@x", MALLORY, sender="mallory@example.org", seen=2)]

    assert by_ids(hits, ["m@x"], maria) == Thread(own=MARIA)
    assert by_ids(hits, ["m@x"], mallory) == Thread(own=MALLORY)
    assert by_ids(hits[:1], ["m@x"], mallory) == Thread(other=MARIA)


def test_a_customer_answering_staff_mail_she_was_copied_on_stays_on_her_complaint() -> None:
    hits = [hit("staff@x", MARIA, sender="team@acme.example")]

    assert by_ids(hits, ["staff@x"], maria) == Thread(own=MARIA)
    assert by_ids(hits, ["staff@x"], mallory) == Thread(other=MARIA)
