"""A private Dovecot instance: own config, base_dir, users and Maildirs under a temp dir, loopback ports.

Nothing under /etc/dovecot is used. Several instances run side by side (one per xdist worker, plus the
"capability variants"), each stopped with `stop()`.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

from tests.servers.apt import ensure_package
from tests.servers.certs import TestCertificates
from tests.servers.ports import free_port

DOVECOT = Path("/usr/sbin/dovecot")
DOVEADM = Path("/usr/bin/doveadm")
HOST = "127.0.0.1"
# Also listened on: the certificate does not name it, so connecting here is a hostname mismatch.
MISMATCH_HOST = "127.0.0.2"
SPECIAL_USE = {
    "Sent": r"\Sent",
    "Drafts": r"\Drafts",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archive": r"\Archive",
}
# What a bare, old server offers: no SPECIAL-USE, CONDSTORE, QRESYNC, IDLE, UIDPLUS, ...
MINIMAL_CAPABILITIES = "IMAP4rev1 LITERAL+ NAMESPACE"
MAIL_USER = "mail"  # a Debian system user that always exists


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def ensure_installed() -> None:
    """Install Debian's dovecot-imapd once."""
    ensure_package(DOVECOT, "dovecot-imapd")


@dataclass
class Dovecot:
    """One running private instance. `imap_port` offers plain IMAP and STARTTLS (when `tls`),
    `imaps_port` implicit TLS (0 when started without TLS)."""

    root: Path
    certs: TestCertificates
    tls: bool = True
    imap_capability: str = ""  # empty: Dovecot's full default list
    host: str = HOST
    mismatch_host: str = MISMATCH_HOST
    imap_port: int = 0
    imaps_port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _users: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def ca_path(self) -> Path:
        return self.certs.ca_path

    @property
    def passwd_dir(self) -> Path:
        return self.root / "users"

    def start(self) -> None:
        ensure_installed()
        for sub in ("run", "state", "mail", "users"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root / "mail", MAIL_USER, MAIL_USER)
        self.root.chmod(0o755)  # login processes run as dovenull and must reach base_dir
        self.imap_port = free_port(HOST, MISMATCH_HOST)
        self.imaps_port = free_port(HOST, MISMATCH_HOST) if self.tls else 0
        self.config_path.write_text(self._config())
        self._process = subprocess.Popen(  # noqa: S603 - our own config, no shell
            [str(DOVECOT), "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "stderr.log").open("wb"),
        )
        self._wait_until_listening()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def add_user(self, name: str, password: str) -> Credentials:
        """Create a user (with an empty Maildir and the special-use folders) and return its login."""
        self._users[name] = password
        # One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a second, but
        # loads a file it has not seen yet at once, so a user added now can log in now.
        (self.passwd_dir / f"{name}.passwd").write_text(f"{name}:{{PLAIN}}{password}::::::\n")
        return Credentials(name, password)

    @contextmanager
    def imap(self, user: str) -> Iterator[IMAPClient]:
        """An admin-side client logged in as `user`, to append, create, rename, delete, flag..."""
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=10)
        try:
            client.login(user, self._users[user])
            yield client
        finally:
            try:
                client.logout()
            except (OSError, IMAPClient.Error):
                client.shutdown()

    def doveadm(self, *args: str) -> str:
        """Run `doveadm` against this instance (server-side changes), returning its stdout."""
        done = subprocess.run(  # noqa: S603
            [str(DOVEADM), "-c", str(self.config_path), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def client_context(self) -> ssl.SSLContext:
        """A verifying TLS context trusting this instance's test CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.imap_port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start listening: {self._log_tail()}")

    def _log_tail(self) -> str:
        text = ""
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")[-2000:]
        return text

    def _config(self) -> str:
        listen = f"{HOST}, {MISMATCH_HOST}"
        imaps = (
            f"  inet_listener imaps {{\n    port = {self.imaps_port}\n    ssl = yes\n  }}\n"
            if self.tls
            else ""
        )
        ssl_lines = (
            f"ssl = yes\nssl_cert = <{self.certs.cert_path}\nssl_key = <{self.certs.key_path}\n"
            if self.tls
            else "ssl = no\n"
        )
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = {flag}\n    auto = subscribe\n  }}\n"
            for name, flag in SPECIAL_USE.items()
        )
        capability = f"imap_capability = {self.imap_capability}\n" if self.imap_capability else ""
        return f"""# Private test instance: generated by tests/servers/dovecot.py
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = postroom-test-{self.imap_port}
log_path = {self.root}/dovecot.log
protocols = imap
listen = {listen}
shutdown_clients = yes
# We run as root in CI containers. Login and internal processes refuse root, so they use the users the
# Debian package creates; Dovecot never serves mail as uid 0, so mail processes run as the system user
# MAIL_USER (hence first_valid_uid = 1), which owns the temp Maildirs.
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_uid = {MAIL_USER}
mail_gid = {MAIL_USER}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
{ssl_lines}{capability}mail_location = maildir:{self.root}/mail/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_dir}/%u.passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_USER} gid={MAIL_USER} home={self.root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
{imaps}  process_min_avail = 0
}}
# Tests log in with wrong passwords on purpose; Dovecot's per-IP auth penalty would then slow every later
# login from 127.0.0.1 by up to 15 s. The auth process (not root) cannot open a mode-0 socket, and
# Dovecot treats an unreachable penalty service as "penalties disabled".
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""


def remove(instance: Dovecot) -> None:
    instance.stop()
    shutil.rmtree(instance.root, ignore_errors=True)
