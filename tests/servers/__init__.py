"""Real servers for tests: a private Dovecot per xdist worker and aiosmtpd SMTP servers on loopback.

Enable the fixtures with `pytest_plugins = ["tests.servers.fixtures"]` in a test module (or once in
tests/conftest.py). What they give:

- `dovecot` (session): IMAP + STARTTLS on `.imap_port`, implicit TLS on `.imaps_port`, certificate signed
  by the test CA at `.ca_path` (SAN localhost, 127.0.0.1); `.mismatch_host` (127.0.0.2) is served too
  but not named by the certificate. `.add_user(name, pw)`, `.imap(user)` (admin-side IMAPClient),
  `.doveadm(...)`. Special-use folders Sent, Drafts, Trash, Junk, Archive exist for every user.
- `dovecot_bare` (session): no TLS (so no STARTTLS) and only IMAP4rev1 LITERAL+ NAMESPACE.
- `running_dovecot(certs, tls=..., imap_capability=...)`: a context manager for any other variant.
- `imap_user` / `bare_imap_user`: a fresh user per test on those servers.
- `smtp_server` (STARTTLS) and `smtps_server` (implicit TLS): AUTH PLAIN/LOGIN with `.credentials`,
  `.messages` (envelope + bytes), `.handler.mail_reply/rcpt_reply/data_reply` to answer 4xx/5xx; reset
  before each test.
- Production code trusts the test CA when `settings.POSTROOM_EXTRA_CA_FILE = str(dovecot.ca_path)`.
"""
