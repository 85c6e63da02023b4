"""A manager's reply to an approval request as each mail client shapes it: Gmail, Outlook
(desktop and mobile), Apple Mail and Thunderbird, in text and in HTML-only form."""

from __future__ import annotations

from triaged.core.decision import EDIT_END, EDIT_START

REQUEST = f"""Approval needed for complaint K7M-Q3X9.
To approve, reply with APPROVE. To reject, reply with REJECT and the reason.
{EDIT_START}
We will refund the cake.
{EDIT_END}
"""

GMAIL = """APPROVE

On Mon, Nov 23, 2026 at 10:00 AM Acme Bakery <
support+approve-1-1-abc-aaaaaaaaaaaaaaaaaaaa@acme.example> wrote:

> Approval needed for complaint K7M-Q3X9.
> To approve, reply with APPROVE.
"""

OUTLOOK_DESKTOP = """REJECT the refund must be 20 euros, not 15

Dana Manager
Acme Bakery | +40 721 000 000

From: Acme Bakery <support@acme.example>
Sent: Monday, November 23, 2026 10:00 AM
To: Dana <dana@acme.example>
Subject: Approval needed [K7M-Q3X9]

""" + REQUEST

OUTLOOK_MOBILE = """Approve

Get Outlook for iOS
________________________________
From: Acme Bakery <support@acme.example>
Sent: Monday, November 23, 2026 10:00:00 AM
""" + REQUEST

APPLE = """approved.

Sent from my iPhone

> On 23 Nov 2026, at 10:00, Acme Bakery <support@acme.example> wrote:
>
> Approval needed
"""

THUNDERBIRD = """On 11/23/26 10:00 AM, Acme Bakery wrote:
> Approval needed for complaint K7M-Q3X9.
> To approve, reply with APPROVE.

REJECT we never promised delivery on Sunday

--
Dana
"""

GMAIL_HTML = (
    '<div dir="ltr">APPROVE<div><br></div><div>Dana</div></div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Nov 23, 2026 at '
    '10:00 AM Acme Bakery &lt;support@acme.example&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote">Approval needed. To approve, reply with APPROVE.'
    '</blockquote></div>'
)

OUTLOOK_HTML = (
    '<html><body><div>REJECT wrong amount</div><div><br></div>'
    '<div id="divRplyFwdMsg"><hr style="display:inline-block;width:98%">'
    '<font face="Calibri"><b>From:</b> Acme Bakery &lt;support@acme.example&gt;<br>'
    '<b>Sent:</b> Monday, November 23, 2026 10:00 AM<br><b>To:</b> Dana<br>'
    '<b>Subject:</b> Approval needed</font><div>&nbsp;</div></div>'
    '<div>To approve, reply with APPROVE.</div></body></html>'
)
