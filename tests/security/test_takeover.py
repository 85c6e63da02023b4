"""Nobody takes over, reads, closes or reopens another customer's complaint by mail,
and no mail makes the shop write to a third party.

Each attack is sent by SMTP into the support mailbox of a real Dovecot and read by
`run --once`'s cycle. Maria is the victim; Mallory knows her Message-ID, her
reference, or her address. What must hold is what Maria, the staff and Mallory
can see: Maria's complaint keeps its state and only her words, staff are told of
Mallory's mail as Mallory's own complaint linked to hers, nothing reaches Maria
or the address Mallory named, and Maria's own mail still works.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.security.takeover_mail import (
    attached_forward,
    complaint_count,
    complaint_of,
    events_on,
    inline_forward,
    letters_to,
    mail,
    resolve,
    respond,
    subjects,
    text_of,
    texts_on,
)
from tests.support.approval import MakeShop, Shop
from tests.support.fixture_types import NewAddress
from tests.support.mail import parsed
from triaged.domain.mailbox_key import same_mailbox

SECRET = "Mein Geburtsdatum ist der 12.03.1980, meine Telefonnummer +49 170 5550123."


def test_a_reused_message_id_never_carries_the_victims_words_to_the_attacker(
    make_shop: MakeShop, new_address: NewAddress
) -> None:
    shop = make_shop()
    victim = shop.complain()
    her_id = str(parsed(shop.complaint_bytes)["Message-ID"])
    [holding] = shop.inbox(shop.customer, 1)
    mallory = new_address("mallory")
    shop.send(mallory, mail(mallory, shop.t.support, "Bestellung 4411 fehlt",
                            "Wo ist meine Bestellung?", message_id=her_id))
    theirs = complaint_of(shop, mallory)

    # Maria writes again three ways: on her own first mail, on our holding reply,
    # and from her mailbox spelt with a plus-detail in capitals.
    shop.send(shop.customer, mail(shop.customer, shop.t.support, "Nachtrag", SECRET,
                                  In_Reply_To=her_id, References=her_id))
    shop.send(shop.customer, respond(holding, shop.customer, f"Noch etwas: {SECRET}"))
    plus = shop.customer.replace("@", "+handy@").upper()
    shop.send(plus, mail(plus, shop.t.support, "Re: Nachtrag", f"Und: {SECRET}",
                         In_Reply_To=her_id))

    assert complaint_count(shop) == 2
    on_hers = texts_on(shop, victim.id)
    assert len(on_hers) == 4
    assert all(same_mailbox(sender, shop.customer) for sender, _text in on_hers)
    assert sum(SECRET in text for _sender, text in on_hers) == 3
    assert [sender for sender, _text in texts_on(shop, theirs.id)] == [mallory]
    told = subjects(shop, shop.staff)
    assert sum("wrote again" in s and victim.reference in s for s in told) == 3
    assert not [s for s in told if "wrote again" in s and theirs.reference in s], told
    about_theirs = [m for m in shop.stack.messages(shop.staff)
                    if theirs.reference in str(parsed(m)["Subject"])]
    assert about_theirs, "staff heard of Mallory's complaint"
    assert not [m for m in about_theirs if "12.03.1980" in text_of(m)]
    assert len(shop.stack.messages(mallory)) == 1, "Mallory got her own holding reply only"
    assert "12.03.1980" not in text_of(shop.stack.messages(mallory)[0])


def yes_on_her_message_id(shop: Shop, mallory: str) -> bytes:
    her_id = str(parsed(shop.complaint_bytes)["Message-ID"])
    return mail(mallory, shop.t.support, "Re: Torte zerdrückt", "Ja, danke!",
                In_Reply_To=her_id, References=her_id)


def no_on_our_final_letter(shop: Shop, mallory: str) -> bytes:
    # Mallory got hold of the final letter (a forwarded copy, a shared screen).
    final = shop.inbox(shop.customer, 2)[1]
    return respond(final, mallory, "Nein, nichts ist erledigt. Bitte alles neu aufrollen.")


def yes_in_a_forward_naming_her(shop: Shop, mallory: str) -> bytes:
    reference = complaint_of(shop, shop.customer).reference
    return inline_forward(mallory, shop.t.support, shop.customer,
                          f"Re: Torte zerdrückt [{reference}]", "Ja, danke!",
                          outer_subject=f"Fwd: Re: Torte zerdrückt [{reference}]",
                          author_name="Maria Schmidt")


ATTACKS = [yes_on_her_message_id, no_on_our_final_letter, yes_in_a_forward_naming_her]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
def test_only_the_customer_can_close_or_reopen_her_resolved_complaint(
    make_shop: MakeShop, new_address: NewAddress, attack: Callable[[Shop, str], bytes]
) -> None:
    shop = make_shop()
    victim = shop.complain()
    resolve(shop)
    assert shop.state(victim.id) == "resolved"
    final = shop.inbox(shop.customer, 2)[1]
    mallory = new_address("mallory")
    before = texts_on(shop, victim.id)

    shop.send(mallory, attack(shop, mallory))

    assert shop.state(victim.id) == "resolved"
    assert texts_on(shop, victim.id) == before, "nothing of Mallory's on Maria's complaint"
    assert len(shop.stack.messages(shop.customer)) == 2, "nothing reached Maria"
    theirs = complaint_of(shop, mallory)
    assert theirs.linked_reference == victim.reference
    assert ("linked", {"linked_from": theirs.reference, "sender": mallory}) in [
        (kind, {k: detail[k] for k in ("linked_from", "sender") if k in detail})
        for kind, detail in events_on(shop, victim.id)]
    told = subjects(shop, shop.staff)
    assert [s for s in told if f"New complaint quoting {victim.reference}" in s
            and theirs.reference in s]
    assert not [s for s in told if s.startswith("Reopened")], told
    assert len(shop.stack.messages(mallory)) == 1, "Mallory's own holding reply"
    if attack is yes_in_a_forward_naming_her:
        [passed] = [d for kind, d in events_on(shop, theirs.id) if kind == "passed_on"]
        assert (passed["author"], passed["sender"]) == (shop.customer, mallory)

    # Maria's own "yes" still closes her complaint.
    shop.send(shop.customer, respond(final, shop.customer, "Ja, danke!\n\nMaria"))

    assert shop.state(victim.id) == "closed"
    assert shop.state(theirs.id) != "closed"


@pytest.mark.parametrize("form", ["inline", "attached"])
def test_a_strangers_forward_is_answered_to_the_stranger_never_to_the_address_it_names(
    make_shop: MakeShop, new_address: NewAddress, form: str
) -> None:
    shop = make_shop()
    mallory, target = new_address("mallory"), new_address("target")
    spam = "You won 1,000,000 EUR - claim at http://spam.example"
    build = inline_forward if form == "inline" else attached_forward
    shop.send(mallory, build(mallory, shop.t.support, target, spam,
                             "Click the link to claim your prize."))

    assert shop.stack.messages(target) == [], "the shop wrote nothing to the named address"
    assert letters_to(shop, target) == []
    theirs = complaint_of(shop, mallory)
    assert theirs.forwarded_by == ""
    [holding] = shop.inbox(mallory, 1)
    assert theirs.reference in str(parsed(holding)["Subject"])
    [passed] = [d for kind, d in events_on(shop, theirs.id) if kind == "passed_on"]
    assert (passed["author"], passed["sender"]) == (target, mallory)
    assert passed["original_subject"] == spam


def test_staff_writing_with_the_reference_attach_to_the_complaint(
    make_shop: MakeShop,
) -> None:
    shop = make_shop()
    victim = shop.complain()

    shop.send(shop.staff, mail(shop.staff, shop.t.support, f"[{victim.reference}] Anruf",
                               "Kundin angerufen, sie ist morgen zu Hause."))

    assert complaint_count(shop) == 1
    assert [s for s, _t in texts_on(shop, victim.id)] == [shop.customer, shop.staff]
    assert len(shop.stack.messages(shop.staff)) == 1, "staff need no notice of their own words"
