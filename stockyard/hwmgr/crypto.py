"""Encryption of BMC passwords (and task tokens) at rest with Fernet."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

KEY_FILE = "hwmgr-secret.key"


class SecretBox:
    """Encrypts and decrypts small secrets; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, clear: str) -> str:
        return self._fernet.encrypt(clear.encode()).decode()

    def decrypt(self, token: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(token.encode()).decode())
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this hwmgr key") from exc

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def load_key(configured: SecretStr | None, data_dir: Path) -> bytes:
    """The configured key, or the key file under ``data_dir`` (created with mode 0600)."""
    if configured is not None and configured.get_secret_value():
        key = configured.get_secret_value().encode()
        Fernet(key)  # fails early on a malformed key
        return key
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL + 0600 at creation: the key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def token_hash(token: str) -> str:
    """Stored form of a per-task call-back token (high-entropy, so a plain hash suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()
