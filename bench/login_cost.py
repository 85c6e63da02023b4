"""Benchmark: what a fresh OAuth2 token per login costs, against the private mail stack.

Times, in the same run and on the same stack, `--count` logins each way:

* IMAP LOGIN with a password (the baseline);
* IMAP XOAUTH2, the token from `oauth2_token_command` (a `sh` script, as an
  operator's helper would be): connect, run the command, AUTHENTICATE (Dovecot
  asks the stack's introspection endpoint), look at INBOX, log out — both
  through `ImapSource.probe()`, triaged's own login path;
* the token command alone;
* SMTP AUTH PLAIN vs XOAUTH2 through `SmtpTransport.probe()` (connect, EHLO,
  AUTH, QUIT).

Prints medians and p90 in milliseconds and the XOAUTH2 / password ratios.

    .venv/bin/python -m bench.login_cost --count 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.mailstack import MailStack
from triaged.adapters.imap import ImapSettings, ImapSource
from triaged.adapters.smtp import SmtpSettings, SmtpTransport
from triaged.app import token_fetcher


def timed(count: int, step: Callable[[], object]) -> dict[str, float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        step()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2),
            "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    count = parser.parse_args().count
    with MailStack(smtp_auth=True) as stack, tempfile.TemporaryDirectory() as folder:
        user = stack.add_user("support@example.test", "pw")
        token = stack.oauth2.grant(user)
        (Path(folder) / "token").write_text(token + "\n")
        fetch = token_fetcher(("sh", "-c", "cat token"), folder)
        assert fetch is not None

        def imap(oauth2: bool) -> ImapSource:
            return ImapSource("support", ImapSettings(
                host=stack.host, port=stack.imap_port, security="plain", username=user,
                password=lambda: "pw", processed_folder="", oauth2_token=fetch if oauth2 else None))

        def smtp(oauth2: bool) -> SmtpTransport:
            return SmtpTransport(SmtpSettings(
                host=stack.host, port=stack.smtp_port, security="plain", username=user,
                password=None if oauth2 else (lambda: "pw"),
                oauth2_token=fetch if oauth2 else None))

        results = {
            "imap_password": timed(count, imap(False).probe),
            "imap_xoauth2_with_command": timed(count, imap(True).probe),
            "token_command": timed(count, fetch),
            "smtp_password": timed(count, smtp(False).probe),
            "smtp_xoauth2_with_command": timed(count, smtp(True).probe),
        }
    for server in ("imap", "smtp"):
        results[f"{server}_ratio_xoauth2_to_password"] = {"median": round(
            results[f"{server}_xoauth2_with_command"]["median_ms"]
            / results[f"{server}_password"]["median_ms"], 2)}
    print(json.dumps({"count": count, **results}, indent=2))


if __name__ == "__main__":
    main()
