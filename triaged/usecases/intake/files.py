"""The customer's files of a stored message, kept with its complaint.

Called by the new-complaint and follow-up steps right after the message's row
is written and before any letter about the complaint is queued, so the notice
to staff and every approval request can carry them. A trusted forward's files
belong to the original customer (the attached message's parts, not the wrapper).
"""

from __future__ import annotations

from triaged.core.parse.forwarded import Attribution
from triaged.usecases import attachments
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk


def keep(desk: Desk, msg: Arrival, complaint_id: int, row_id: int) -> None:
    attachments.keep(msg.conn, desk.config, complaint_id, row_id, msg.mail,
                     forwarded=isinstance(msg.read.forward, Attribution),
                     raw_size=len(msg.raw.data), now=msg.now)
