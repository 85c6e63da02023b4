"""A real, private mail system for tests and benchmarks: Dovecot (IMAP + LMTP) behind aiosmtpd.

``MailStack`` starts its own Dovecot from its own config file in one folder, on loopback
ports chosen at start, and an aiosmtpd SMTP server that delivers every accepted message
into that Dovecot over LMTP. Nothing touches ``/etc/dovecot`` or the system's instance.

    with MailStack() as stack:
        stack.add_user("cust@example.test")
        smtplib.SMTP(stack.host, stack.smtp_port).sendmail(..., ["cust@example.test"], raw)
        stack.wait_for_messages("cust@example.test", "INBOX", 1)

It works as root (mail stored as ``nobody``, as Dovecot never touches mail as uid 0) and
as an ordinary user (every Dovecot service runs as that user, no chroots). Each
setting that is not Dovecot's default says beside it why it is needed.

This module must not import pytest: the benchmarks in ``bench/`` use it too.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient

from tests.oauth2_provider import OAuth2Provider
from tests.support.ports import free_ports
from tests.support.servers import Running

DOVECOT = "/usr/sbin/dovecot"
DEFAULT_PASSWORD = "pw"
TEMPFAIL_REPLY = "451 4.3.0 try again later"

# Unix socket paths are limited to 107 bytes and Dovecot nests its sockets under
# base_dir/login/...; a run folder longer than this breaks start-up.
MAX_RUN_DIR = 70
APPEND_BATCH = 250  # MULTIAPPEND messages per command: one APPEND each is fsync-bound
FETCH_BATCH = 500  # explicit UID lists per FETCH (imapclient 4.1 fails on "1:*")
NOBODY = 65534  # owns mail when running as root: Dovecot never touches mail as uid 0


class MailStackError(RuntimeError):
    """The private mail stack could not be started or used; the message says why."""


@dataclass(frozen=True)
class SmtpEnvelope:
    """One message the SMTP server accepted (and, when relaying, delivered), as sent."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    auth_login: str | None  # the AUTH user name, None when the client did not log in


class FolderUids(NamedTuple):
    """A folder's UIDVALIDITY and the UIDs of its messages, ascending."""

    uidvalidity: int
    uids: list[int]


class MailStack(Running):
    """A private Dovecot + aiosmtpd relay; see the module docstring.

    ``fast=True`` sets ``mail_fsync = never`` (benchmarks; a crash may lose mail).
    ``smtp_auth=True`` makes the SMTP server require AUTH PLAIN/LOGIN (over plain TCP)
    with the users' IMAP passwords. ``relay=False`` makes the SMTP server a sink for
    benchmarks: it answers RCPT from the user list (550 5.1.1 for unknown users, and
    smtp_tempfail still applies) and records messages in ``smtp_received`` without
    delivering them; Dovecot's LMTP delivery (~3 ms a message) would otherwise cap a
    sender at 200-450 msg/s. ``keep=True`` leaves the folder behind after stop().
    ``directory`` is the folder to build in (made if missing, must be short); by default
    a fresh one under /tmp, removed on stop().

    Both servers also accept XOAUTH2 (Dovecot OAUTHBEARER too) with a token from
    ``oauth2.grant(user)``, AUTH XOAUTH2 counting for ``smtp_auth``: Dovecot asks the
    stack's OAuth2 provider (``tests/oauth2_provider.py``) at every login, the relay
    its table; ``oauth2.revoke(token)`` makes a token expire.
    """

    host = "127.0.0.1"
    domain = "example.test"

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        fast: bool = False,
        smtp_auth: bool = False,
        relay: bool = True,
        keep: bool = False,
        start_timeout: float = 15.0,
    ) -> None:
        self._requested_dir = Path(directory) if directory is not None else None
        self.fast = fast
        self.smtp_auth = smtp_auth
        self.relay = relay
        self.keep = keep
        self.start_timeout = start_timeout
        self.dir = Path()
        self.imap_port = 0
        self.lmtp_port = 0
        self.smtp_port = 0
        self.smtp_received: list[SmtpEnvelope] = []
        self._received_lock = threading.Lock()
        self._users: dict[str, str] = {}
        self._users_lock = threading.Lock()
        self._tempfail: dict[str, int] = {}
        self._tempfail_lock = threading.Lock()
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._controller: Controller | None = None
        self._made_dir = False
        self.oauth2 = OAuth2Provider()

    # ---- life cycle ------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """Dovecot's log file (errors, info and debug lines)."""
        return self.dir / "log" / "dovecot.log"

    @property
    def running(self) -> bool:
        return self._dovecot is not None

    def start(self) -> MailStack:
        """Write the config, start Dovecot and the SMTP relay, wait until all three ports
        accept connections. Raises MailStackError (with Dovecot's log tail) on failure."""
        if self._dovecot is not None:
            raise MailStackError("MailStack already started")
        if not os.access(DOVECOT, os.X_OK):
            raise MailStackError(
                f"{DOVECOT} is not installed: run `bash scripts/install-system-deps.sh` "
                "(installs the Debian packages dovecot-imapd and dovecot-lmtpd)"
            )
        self._prepare_dir()
        try:
            self.oauth2.start()
            self._start_dovecot_on_free_ports()
            self._start_smtp()
        except BaseException:
            self.stop()
            raise
        _RUNNING.add(self)
        return self

    def stop(self) -> None:
        """Stop the SMTP relay and Dovecot (waiting for its children), then
        remove the folder unless keep=True. Safe to call twice."""
        _RUNNING.discard(self)
        if self._controller is not None:
            with contextlib.suppress(Exception):
                self._controller.stop()
            self._controller = None
        if self._dovecot is not None:
            _stop_process_group(self._dovecot)
            self._dovecot = None
        self.oauth2.stop()
        if not self.keep and self.dir != Path():
            self._remove_dir()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of Dovecot's log and of its console output, for error messages."""
        parts = []
        for path in (self.log_path, self.dir / "log" / "master.out"):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(parts) or "(no Dovecot log yet)"

    # ---- users and switches ----------------------------------------------------------

    def add_user(self, email: str, password: str = DEFAULT_PASSWORD) -> str:
        """Create (or re-password) a mailbox user; works while running, since Dovecot
        re-reads its passwd-file when it changes. Returns the address, lower-cased."""
        email = email.lower()
        if any(c in email for c in ":/\n") or email.startswith(".") or ":" in password:
            raise ValueError(f"unusable user name or password for {email!r}")
        with self._users_lock:
            if self._users.get(email) == password:
                return email
            self._users[email] = password
            if self.dir != Path():
                self._write_user(email)
        return email

    def password(self, email: str) -> str:
        """The password add_user() gave this user."""
        return self._users[email.lower()]

    def has_user(self, email: str) -> bool:
        return email.lower() in self._users

    def smtp_tempfail(self, address: str, times: int = 1) -> None:
        """Make the next `times` RCPTs to `address` get '451 4.3.0 try again later'."""
        with self._tempfail_lock:
            self._tempfail[address.lower()] = times

    def _take_tempfail(self, address: str) -> bool:
        with self._tempfail_lock:
            left = self._tempfail.get(address.lower(), 0)
            if left <= 0:
                return False
            self._tempfail[address.lower()] = left - 1
            return True

    def _record(self, envelope: SmtpEnvelope) -> None:
        with self._received_lock:
            self.smtp_received.append(envelope)

    def wait_for_smtp(self, count: int, timeout: float = 10.0) -> list[SmtpEnvelope]:
        """Wait until the SMTP server has accepted at least `count` messages in all."""
        deadline = time.monotonic() + timeout
        while True:
            with self._received_lock:
                got = list(self.smtp_received)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"SMTP server accepted {len(got)} messages, wanted {count}")
            time.sleep(0.02)

    # ---- IMAP helpers ----------------------------------------------------------------

    def imap_client(self, email: str) -> IMAPClient:
        """A logged-in IMAPClient for the user (plain TCP: ssl=False). Caller logs out."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=30)
        try:
            client.login(email.lower(), self.password(email))
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    @contextlib.contextmanager
    def _session(self, email: str) -> Iterator[IMAPClient]:
        client = self.imap_client(email)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, email: str, folder: str, data: bytes | Sequence[bytes]) -> None:
        """Store one message, or a list of them (MULTIAPPEND in batches), in the user's
        folder, creating the folder when missing."""
        with self._session(email) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            if isinstance(data, bytes):
                client.append(folder, data)
                return
            for batch in _batches(list(data), APPEND_BATCH):
                client.multiappend(folder, batch)

    def folder_uids(self, email: str, folder: str = "INBOX") -> FolderUids:
        """The folder's UIDVALIDITY and its message UIDs, ascending."""
        with self._session(email) as client:
            info = client.select_folder(folder, readonly=True)
            uids = sorted(int(uid) for uid in client.search("ALL"))
            return FolderUids(int(info[b"UIDVALIDITY"]), uids)

    def messages(self, email: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in the folder, raw, in UID order (without setting \\Seen)."""
        with self._session(email) as client:
            client.select_folder(folder, readonly=True)
            uids = sorted(int(uid) for uid in client.search("ALL"))
            found: dict[int, bytes] = {}
            # Explicit UID lists, never "1:*": imapclient 4.1 chokes on it.
            for batch in _batches(uids, FETCH_BATCH):
                for uid, item in client.fetch(batch, ["BODY.PEEK[]"]).items():
                    found[int(uid)] = bytes(item[b"BODY[]"])
            return [found[uid] for uid in uids if uid in found]

    def wait_for_messages(
        self, email: str, folder: str = "INBOX", count: int = 1, timeout: float = 10.0
    ) -> list[bytes]:
        """Poll until the folder holds at least `count` messages; return them all.
        Raises TimeoutError naming how many arrived."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._messages_if_folder(email, folder)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{email} {folder}: {len(got)} messages after {timeout}s, wanted {count}"
                )
            time.sleep(0.05)

    def _messages_if_folder(self, email: str, folder: str) -> list[bytes]:
        with self._session(email) as client:
            if not client.folder_exists(folder):
                return []
        return self.messages(email, folder)

    # ---- start-up internals ----------------------------------------------------------

    def _prepare_dir(self) -> None:
        if self._requested_dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="ms", dir="/tmp"))
            self._made_dir = True
        else:
            self.dir = self._requested_dir.resolve()
            self._made_dir = not self.dir.exists()
            self.dir.mkdir(parents=True, exist_ok=True)
        if len(str(self.dir / "run")) >= MAX_RUN_DIR:
            raise MailStackError(f"{self.dir} is too long for Dovecot's sockets")
        # Dovecot's unprivileged processes (dovecot, dovenull, nobody) must traverse it.
        self.dir.chmod(0o755)
        for sub in ("etc", "etc/users", "log", "run", "state", "mail"):
            (self.dir / sub).mkdir(exist_ok=True)
        if _is_root():
            os.chown(self.dir / "mail", NOBODY, NOBODY)
        with self._users_lock:
            for email in self._users:
                self._write_user(email)

    def _start_dovecot_on_free_ports(self, attempts: int = 3) -> None:
        # A port found free can be taken by another process before Dovecot binds it.
        for attempt in range(1, attempts + 1):
            try:
                self._start_dovecot()
                return
            except MailStackError as error:
                if attempt == attempts or "Address already in use" not in str(error):
                    raise
                if self._dovecot is not None:
                    _stop_process_group(self._dovecot)
                    self._dovecot = None

    def _start_dovecot(self) -> None:
        self.imap_port, self.lmtp_port, self.smtp_port = free_ports(3)
        config = self.dir / "etc" / "dovecot.conf"
        oauth2 = self.dir / "etc" / "oauth2.conf.ext"
        oauth2.write_text(render_oauth2_config(self.oauth2.url))
        oauth2.chmod(0o644)
        config.write_text(
            render_dovecot_config(self.dir, self.imap_port, self.lmtp_port, fast=self.fast,
                                  oauth2_config=oauth2)
        )
        with open(self.dir / "log" / "master.out", "wb") as out:
            # -F: stay in the foreground, so this process owns and can stop it; its own
            # session, so that stop() can also reach children the master leaves behind.
            self._dovecot = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_port(self.imap_port, b"* OK ")
        self._wait_for_port(self.lmtp_port, b"220 ")

    def _wait_for_port(self, port: int, greeting: bytes) -> None:
        """Wait until Dovecot greets on the port: a bare connect could reach a stranger
        that holds the port, while Dovecot is failing to bind it."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._dovecot is not None and self._dovecot.poll() is not None:
                raise MailStackError(
                    f"Dovecot exited with status {self._dovecot.returncode}\n" + self.log_tail()
                )
            if _greets(self.host, port, greeting):
                return
            if time.monotonic() > deadline:
                raise MailStackError(
                    f"port {port} not accepting connections after {self.start_timeout}s\n"
                    + self.log_tail()
                )
            time.sleep(0.02)

    def _start_smtp(self) -> None:
        controller = _RelayController(
            _RelayHandler(self),
            hostname=self.host,
            port=self.smtp_port,
            # hostname for the SMTP banner: without it aiosmtpd asks DNS.
            server_hostname="mailstack.test",
            ready_timeout=self.start_timeout,
            require_auth=self.smtp_auth,
            auth_require_tls=False,
            authenticator=self._authenticate if self.smtp_auth else None,
        )
        controller.start()
        self._controller = controller

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth: Any
    ) -> AuthResult:
        if isinstance(auth, LoginPassword):
            login = auth.login.decode("utf-8", "replace").lower()
            if self._users.get(login) == auth.password.decode("utf-8", "replace"):
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    def _write_user(self, email: str) -> None:
        """Write the user's passwd-file atomically. Caller holds _users_lock.

        One file per user (``etc/users/<address>``): Dovecot re-reads a passwd-file at
        most once a second, so a user added to a shared file right after another lookup
        would not exist yet; a file it has never opened is read at once. (A changed
        password may still take up to a second to count.)"""
        path = self.dir / "etc" / "users" / email
        tmp = path.with_name(f".{email}.tmp")
        tmp.write_text(f"{email}:{{PLAIN}}{self._users[email]}::::::\n")
        if _is_root():
            # Read by the auth process running as `dovecot`: root-only 0600 would fail.
            os.chown(tmp, 0, grp.getgrnam("dovecot").gr_gid)
            tmp.chmod(0o640)
        else:
            tmp.chmod(0o600)
        tmp.replace(path)

    def _remove_dir(self) -> None:
        if self._made_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            for sub in ("etc", "log", "run", "state", "mail"):
                shutil.rmtree(self.dir / sub, ignore_errors=True)


# ---- Dovecot config ----------------------------------------------------------------------


def render_oauth2_config(introspection_url: str) -> str:
    """Dovecot's oauth2 passdb settings: ask the test provider about every token."""
    return f"""\
introspection_mode = post
introspection_url = {introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


def render_dovecot_config(
    directory: Path, imap_port: int, lmtp_port: int, *, fast: bool,
    oauth2_config: Path | None = None,
) -> str:
    """The complete private Dovecot config; as root or as the invoking user.

    With `oauth2_config` (see render_oauth2_config) XOAUTH2 and OAUTHBEARER logins are
    checked by the oauth2 passdb; passwords by the passwd-file only."""
    if _is_root():
        login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
        mail_uid = mail_gid = NOBODY
        login_chroot, anvil_chroot = "login", "empty"
    else:
        # Without root the master cannot chroot or switch users.
        internal_user = login_user = pwd.getpwuid(os.getuid()).pw_name
        internal_group = grp.getgrgid(os.getgid()).gr_name
        mail_uid, mail_gid = os.getuid(), os.getgid()
        login_chroot = anvil_chroot = ""
    d = directory
    mechanisms = "plain login"
    oauth2_passdb = ""
    if oauth2_config is not None:
        mechanisms += " xoauth2 oauthbearer"
        # Each passdb only sees its own mechanisms: a token is never compared with a
        # password, nor a password sent to the introspection endpoint.
        oauth2_passdb = (f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                         f"  args = {oauth2_config}\n}}\n")
    return f"""\
base_dir = {d}/run
state_dir = {d}/state
instance_name = mailstack-{d.name}
protocols = imap lmtp
listen = 127.0.0.1
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
debug_log_path = {d}/log/dovecot.log
auth_verbose = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_username_format = %Lu
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
last_valid_gid = {mail_gid}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu {d}/etc/users/%Lu
}}
{oauth2_passdb}userdb {{
  driver = passwd-file
  args = username_format=%Lu {d}/etc/users/%Lu
  default_fields = uid={mail_uid} gid={mail_gid} home={d}/mail/%Ld/%Ln
}}
mail_location = maildir:~/Maildir
mail_fsync = {"never" if fast else "optimized"}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
# A failed login would otherwise delay the next login from 127.0.0.1, for any user,
# by 4-15 s.
service anvil {{
  chroot = {anvil_chroot}
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot = {login_chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
  imap_idle_notify_interval = 2 mins
}}
mailbox_idle_check_interval = 30 secs
protocol lmtp {{
  postmaster_address = postmaster@example.test
  lda_mailbox_autocreate = yes
}}
"""


# ---- SMTP → LMTP relay -----------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    def smtp(self) -> str:
        return f"{self.code} {self.text}"


class _Lmtp:
    """A minimal asyncio LMTP client: one transaction per recipient, so one reply after
    DATA (LMTP answers DATA once per recipient, which smtplib's LMTP does not read);
    commands pipelined to save round trips."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> _Lmtp:
        reader, writer = await asyncio.open_connection(host, port)
        lmtp = cls(reader, writer)
        for reply in (await lmtp._read(), await lmtp._command(b"LHLO mailstack.test")):
            if not reply.ok:
                writer.close()
                raise ConnectionError(f"LMTP refused: {reply.smtp()}")
        return lmtp

    async def _read(self) -> _Reply:
        while True:
            line = await self._reader.readline()
            if not line:
                raise ConnectionError("LMTP connection closed")
            if line[3:4] != b"-":
                text = line[4:].decode("utf-8", "replace").strip()
                return _Reply(int(line[:3]), text)

    async def _command(self, line: bytes) -> _Reply:
        self._writer.write(line + b"\r\n")
        await self._writer.drain()
        return await self._read()

    def _send(self, *lines: bytes) -> None:
        self._writer.write(b"".join(line + b"\r\n" for line in lines))

    async def check(self, sender: str, rcpt: str) -> _Reply:
        """Dovecot's answer to RCPT for this recipient, without delivering anything."""
        self._send(_mail_from(sender), _rcpt_to(rcpt), b"RSET")
        await self._writer.drain()
        mail, rcpt_reply, _ = await self._read(), await self._read(), await self._read()
        return rcpt_reply if mail.ok else mail

    async def deliver(self, sender: str, rcpt: str, data: bytes) -> _Reply:
        """Deliver `data` to one recipient; Dovecot's final answer."""
        self._send(_mail_from(sender), _rcpt_to(rcpt), b"DATA")
        await self._writer.drain()
        mail, rcpt_reply, go = await self._read(), await self._read(), await self._read()
        if go.code != 354:
            await self._command(b"RSET")
            return next(r for r in (mail, rcpt_reply, go) if not r.ok)
        self._writer.write(_dot_stuff(data) + b".\r\n")
        await self._writer.drain()
        return await self._read()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._send(b"QUIT")
            await self._writer.drain()
        self._writer.close()


def _mail_from(sender: str) -> bytes:
    return b"MAIL FROM:<" + sender.encode() + b">"


def _rcpt_to(rcpt: str) -> bytes:
    return b"RCPT TO:<" + rcpt.encode() + b">"


def _dot_stuff(data: bytes) -> bytes:
    """CRLF line ends, a final line end, and a '.' doubled at each line start."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", data)


class _RelaySMTP(SMTP):
    """aiosmtpd's SMTP session, holding one LMTP connection for its life."""

    lmtp: _Lmtp | None = None

    def connection_lost(self, error: Exception | None) -> None:
        lmtp, self.lmtp = self.lmtp, None
        if lmtp is not None:
            self.loop.create_task(lmtp.close())
        super().connection_lost(error)


class _RelayController(Controller):
    def __init__(self, handler: _RelayHandler, *, require_auth: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._require_auth = require_auth

    def factory(self) -> _RelaySMTP:
        smtp = _RelaySMTP(self.handler, **self.SMTP_kwargs)
        # Set after __init__, which would warn (in the server thread, on every
        # connection) that AUTH without TLS is unsafe; on loopback in tests it is fine.
        smtp._auth_required = self._require_auth
        return smtp


class _RelayHandler:
    """aiosmtpd handler: RCPT gets Dovecot's verdict on the recipient; DATA delivers to
    each recipient in its own LMTP transaction and answers with Dovecot's result."""

    def __init__(self, stack: MailStack) -> None:
        self._stack = weakref.proxy(stack)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """XOAUTH2 as Gmail speaks it: base64("user=U\\1auth=Bearer T\\1\\1"); a refused
        token gets a 334 challenge carrying a JSON error, then 535 after the client's
        empty answer (https://developers.google.com/gmail/imap/xoauth2-protocol)."""
        blob: Any = await server.challenge_auth("") if len(args) == 1 else None
        if blob is None:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        if not isinstance(blob, bytes):  # the client aborted with "*"
            return AuthResult(success=False, handled=True)
        fields = dict(part.partition("=")[::2]
                      for part in blob.decode("utf-8", "replace").split("\x01") if part)
        user = fields.get("user", "").lower()
        scheme, _, token = fields.get("auth", "").partition(" ")
        if scheme == "Bearer" and user and self._stack.oauth2.owner(token) == user:
            return AuthResult(success=True, auth_data=user)
        error = json.dumps({"status": "401", "schemes": "Bearer",
                            "scope": "https://mail.google.com/"})
        await server.challenge_auth(error)
        return AuthResult(success=False, handled=False)

    async def _lmtp(self, server: _RelaySMTP) -> _Lmtp:
        if server.lmtp is None:
            server.lmtp = await _Lmtp.connect(self._stack.host, self._stack.lmtp_port)
        return server.lmtp

    async def handle_RCPT(
        self,
        server: _RelaySMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self._stack._take_tempfail(address):
            return TEMPFAIL_REPLY
        if not self._stack.relay:
            if not self._stack.has_user(address):
                return f"550 5.1.1 <{address}> User doesn't exist: {address}"
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        try:
            reply = await (await self._lmtp(server)).check(envelope.mail_from or "", address)
        except (OSError, ConnectionError, ValueError) as exc:
            server.lmtp = None
            return f"451 4.4.1 cannot reach Dovecot LMTP: {exc}"
        if reply.ok:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply.smtp()

    async def handle_DATA(self, server: _RelaySMTP, session: Session, envelope: Envelope) -> str:
        data = bytes(envelope.original_content or b"")
        sender = envelope.mail_from or ""
        if not self._stack.relay:
            self._stack._record(
                SmtpEnvelope(sender, tuple(envelope.rcpt_tos), data, _login(session))
            )
            return "250 2.0.0 OK recorded"
        delivered: list[str] = []
        failure: _Reply | None = None
        try:
            lmtp = await self._lmtp(server)
            for rcpt in envelope.rcpt_tos:
                reply = await lmtp.deliver(sender, rcpt, data)
                if reply.ok:
                    delivered.append(rcpt)
                else:
                    failure = failure or reply
        except (OSError, ConnectionError, ValueError) as exc:
            server.lmtp = None
            failure = _Reply(451, f"4.4.1 cannot reach Dovecot LMTP: {exc}")
        if delivered:
            self._stack._record(SmtpEnvelope(sender, tuple(delivered), data, _login(session)))
        # A partial delivery answers with the first failure (a test-only simplification).
        return failure.smtp() if failure else "250 2.0.0 OK delivered"


# ---- small helpers -----------------------------------------------------------------------


def _login(session: Session) -> str | None:
    return session.auth_data if isinstance(session.auth_data, str) else None


def _is_root() -> bool:
    return os.geteuid() == 0


def _greets(host: str, port: int, prefix: bytes) -> bool:
    try:
        with socket.create_connection((host, port), 1) as sock:
            sock.settimeout(1)
            line = sock.recv(512)
    except OSError:
        return False
    return line.startswith(prefix) and b"Dovecot" in line


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stop_process_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM every Dovecot process at once and wait for the master; then SIGKILL
    whatever is left in its process group. Signalling only the master takes 1-5 s,
    as it waits for its children one by one; the group takes ~0.1 s."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    # Let the children finish their own clean exit (log lines, index writes) first.
    deadline = time.monotonic() + 2.0
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


_RUNNING: weakref.WeakSet[MailStack] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    # A test run that dies without calling stop() must not leave Dovecots behind.
    for stack in list(_RUNNING):
        stack.stop()
