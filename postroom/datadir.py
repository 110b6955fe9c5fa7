"""Where the embedded default keeps its state: the SQLite database, the queue, generated keys."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def data_dir() -> Path:
    """`POSTROOM_DATA_DIR`, else `$XDG_DATA_HOME/postroom`, else `~/.local/share/postroom`."""
    explicit = os.environ.get("POSTROOM_DATA_DIR")
    if explicit:
        path = Path(explicit)
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(xdg) / "postroom"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def secret_file(name: str, kind: str) -> str:
    """Read a generated secret from the data directory, creating it (mode 0600) on first use.

    Only the embedded default relies on this; production sets the secrets through the environment.
    """
    path = data_dir() / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    if kind == "fernet":
        value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    elif kind == "login":  # typed by a person: 16 characters, 96 bits
        value = secrets.token_urlsafe(12)
    else:
        value = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
