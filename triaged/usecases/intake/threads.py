"""Which complaint a message continues: by its headers, else by a reference it quotes."""

from __future__ import annotations

from sqlalchemy import Connection

from triaged.core import follow_ups, references
from triaged.core.follow_ups import Speaker, Thread
from triaged.domain.records import ParsedMail
from triaged.store import rows


def find(conn: Connection, mail: ParsedMail, speaker: Speaker) -> Thread:
    """The complaint this message continues, by its headers or its reference token,
    and whether it is `speaker`'s to continue (`follow_ups`).

    A known id or reference of a complaint that is not the speaker's (nor
    staff's to write on) gives `other`: the message opens a new complaint of
    its sender, linked to that one.
    """
    named = follow_ups.named_ids(mail.in_reply_to, mail.references)
    by_ids = Thread()
    if named:
        by_ids = follow_ups.by_ids(rows.known_ids(conn, named), named, speaker)
        if by_ids.own is not None:
            return by_ids
    quoted = []
    for token in references.find_in_text(mail.subject):
        found = rows.complaint_by_reference(conn, token)
        if found is not None:
            quoted.append(found)
    by_reference = follow_ups.choose(quoted, speaker)
    if by_reference.own is not None:
        return by_reference
    return Thread(other=by_ids.other or by_reference.other)
