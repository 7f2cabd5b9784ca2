"""Encryption at rest: named AES-GCM keys, an encrypted column type, and blind indexes.

Values are encrypted in the application, so the database, its dumps, backups and replicas only
ever hold ciphertext. Every ciphertext names its key, so a new key can be made primary while old
ones still decrypt, and `kefu keys rotate` re-encrypts at its own pace without downtime.
Equality lookups on encrypted fields go through a keyed hash (`blind_index`), never plaintext.

Stored form (TEXT): ``enc:v1:<keyid>:<base64url(nonce12 + ciphertext + tag)>``. The column's
name ("messages.text") is the associated data, so a ciphertext moved to another column fails to
decrypt. Values without the ``enc:`` prefix are legacy plaintext, read as they are until
rotation encrypts them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators

from kefu.errors import InvalidInput, KefuError

if TYPE_CHECKING:
    from kefu.config import Settings

PREFIX = "enc:"
V1 = "enc:v1:"
KEY_FILE = "keys"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
# How often a running process looks at the key file for a new primary (one stat call).
RELOAD_INTERVAL_S = 2.0
_ATTR = "kefu_keyring"
_FILE_HEADER = (
    "# kefu data encryption keys: one 'KEYID:BASE64KEY' per line; the last line encrypts,\n"
    "# every line decrypts. Back this file up apart from the database: without it the\n"
    "# encrypted data cannot be read. Add keys with `kefu keys new`.\n"
)


class EncryptionError(KefuError):
    """A stored value can't be decrypted, or an engine has no keys (never shows key material)."""

    code = "encryption_error"


# -- keys ------------------------------------------------------------------------------------


def parse_key(entry: str, where: str) -> tuple[str, bytes]:
    """One 'KEYID:BASE64KEY'. Errors name the place, never the key (or a malformed id, which
    may be key material pasted in the wrong order)."""
    key_id, sep, material = (part.strip() for part in entry.strip().partition(":"))
    if not sep or not key_id or not material:
        raise InvalidInput(f"{where}: expected 'KEYID:BASE64KEY'", code="invalid_key")
    if not KEY_ID.fullmatch(key_id):
        raise InvalidInput(
            f"{where}: a key id must be 1-16 letters, digits, '_' or '-'", code="invalid_key"
        )
    try:
        std = material.replace("-", "+").replace("_", "/")  # accept base64url too
        key = base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{where}: key {key_id} is not valid base64", code="invalid_key"
        ) from None
    if len(key) != KEY_BYTES:
        raise InvalidInput(
            f"{where}: key {key_id} is {len(key)} bytes; AES-256 needs {KEY_BYTES} "
            "(`openssl rand -base64 32` makes one)",
            code="invalid_key",
        )
    return key_id, key


def _collect(entries: list[tuple[str, str]]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for entry, where in entries:
        key_id, key = parse_key(entry, where)
        if key_id in keys:
            raise InvalidInput(f"{where}: key id {key_id} appears twice", code="invalid_key")
        keys[key_id] = key
    return keys


def parse_env_keys(value: str) -> tuple[dict[str, bytes], str]:
    """KEFU_ENCRYPTION_KEYS: comma-separated, the first one is primary."""
    parts = [p for p in value.split(",") if p.strip()]
    if not parts:
        raise InvalidInput("KEFU_ENCRYPTION_KEYS is set but holds no keys", code="invalid_key")
    where = "KEFU_ENCRYPTION_KEYS entry {}"
    keys = _collect([(p, where.format(i)) for i, p in enumerate(parts, 1)])
    return keys, next(iter(keys))


def parse_key_file(text: str, path: Path) -> tuple[dict[str, bytes], str]:
    """A key file: one key per line, '#' comments; the last key is primary."""
    entries = [
        (line, f"{path}: line {n}")
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not entries:
        raise InvalidInput(f"{path}: no keys in the key file", code="invalid_key")
    keys = _collect(entries)
    return keys, next(reversed(keys))


def _new_key_line(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}\n"


def next_key_id(existing: Mapping[str, bytes] | list[str]) -> str:
    numbers = [int(k[1:]) for k in existing if re.fullmatch(r"k\d{1,9}", k)]
    n = max(numbers, default=0) + 1
    while f"k{n}" in existing:
        n += 1
    return f"k{n}"


def create_key_file(path: Path) -> None:
    """Write a key file holding one fresh key `k1`, mode 0600 from the start. Atomic: of two
    processes starting at once, both end up with the same file (never two different keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_FILE_HEADER + _new_key_line("k1"))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def add_key(path: Path) -> str:
    """Append a fresh key to the key file, making it primary; return its id."""
    if not path.exists():
        create_key_file(path)
        return parse_key_file(path.read_text(encoding="utf-8"), path)[1]
    with open(path, "r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # two `keys new` at once must not pick the same id
        text = fh.read()
        keys, _ = parse_key_file(text, path)
        key_id = next_key_id(keys)
        fh.write(("" if text.endswith("\n") else "\n") + _new_key_line(key_id))
        fh.flush()
        os.fsync(fh.fileno())
    return key_id


def derive_index_key(signing_key: str) -> bytes:
    """The blind-index key, from the settings' secret key rather than a data key, so lookups
    keep working across data key rotations."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kefu/blind-index/v1")
    return hkdf.derive(signing_key.encode("utf-8"))


# -- the keyring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keys:
    """One consistent snapshot, swapped whole on reload (safe for concurrent readers)."""

    ciphers: dict[str, AESGCM]
    primary: str
    prefix: str
    stamp: tuple[int, int, int] | None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Keyring:
    """Named 256-bit AES keys: the primary one encrypts, every one decrypts."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        primary: str,
        *,
        index_key: bytes | None = None,
        key_file: Path | None = None,
    ) -> None:
        self.index_key = index_key
        self.key_file = key_file
        self._keys = self._snapshot(keys, primary, _stamp(key_file) if key_file else None)
        self._next_check = time.monotonic() + RELOAD_INTERVAL_S

    @staticmethod
    def _snapshot(
        keys: Mapping[str, bytes], primary: str, stamp: tuple[int, int, int] | None
    ) -> _Keys:
        for key_id, key in keys.items():
            if not KEY_ID.fullmatch(key_id) or len(key) != KEY_BYTES:
                raise InvalidInput(f"key {key_id!r}: needs a valid id and {KEY_BYTES} bytes")
        if primary not in keys:
            raise InvalidInput(f"primary key {primary!r} is not in the keyring")
        ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        return _Keys(ciphers, primary, f"{V1}{primary}:", stamp)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """Keys from KEFU_ENCRYPTION_KEYS, else the key file. The embedded default (no key
        anywhere, no key file configured) generates `<data_dir>/keys` on first use."""
        index_key = derive_index_key(settings.signing_key)
        if settings.encryption_keys is not None:
            keys, primary = parse_env_keys(settings.encryption_keys.get_secret_value())
            return cls(keys, primary, index_key=index_key)
        path = settings.encryption_key_file or settings.data_dir / KEY_FILE
        if not path.exists():
            if settings.encryption_key_file is not None:
                raise EncryptionError(
                    f"key file {path} does not exist (KEFU_ENCRYPTION_KEY_FILE); restore it "
                    "from its backup, or unset the setting to use <data_dir>/keys"
                )
            create_key_file(path)
        stamp = _stamp(path)  # before reading: a change in between just causes a re-read
        keys, primary = parse_key_file(path.read_text(encoding="utf-8"), path)
        ring = cls(keys, primary, index_key=index_key, key_file=path)
        ring._keys = replace(ring._keys, stamp=stamp)
        return ring

    @property
    def primary(self) -> str:
        return self._keys.primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys.ciphers)

    @property
    def source(self) -> str:
        return str(self.key_file) if self.key_file else "KEFU_ENCRYPTION_KEYS"

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(ids={list(self.key_ids)}, primary={self.primary!r}, source={self.source})"

    def reload(self, strict: bool = True) -> bool:
        """Re-read the key file if it changed; True if it did. A broken file raises (strict)
        or keeps the keys already loaded."""
        if self.key_file is None:
            return False
        stamp = _stamp(self.key_file)
        if stamp is None or stamp == self._keys.stamp:
            return False
        try:
            keys, primary = parse_key_file(self.key_file.read_text(encoding="utf-8"), self.key_file)
            self._keys = self._snapshot(keys, primary, stamp)
        except (InvalidInput, OSError):
            if strict:
                raise
            return False
        return True

    def encrypt(self, text: str, column: str, key_id: str | None = None) -> str:
        """`text` encrypted for `column` under the primary key (or `key_id`)."""
        if self.key_file is not None:
            now = time.monotonic()
            if now >= self._next_check:  # pick up `kefu keys new` in running servers
                self._next_check = now + RELOAD_INTERVAL_S
                self.reload(strict=False)
        keys = self._keys
        if key_id is None or key_id == keys.primary:
            cipher, prefix = keys.ciphers[keys.primary], keys.prefix
        else:
            cipher, prefix = self._cipher(key_id), f"{V1}{key_id}:"
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, text.encode("utf-8"), column.encode("utf-8"))
        return prefix + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def decrypt(self, value: str, column: str) -> str:
        """The plaintext of a stored value; legacy plaintext comes back unchanged."""
        if not value.startswith(PREFIX):
            return value
        if not value.startswith(V1):
            raise EncryptionError(f"{column}: unknown ciphertext version (newer kefu?)")
        key_id, sep, body = value[len(V1) :].partition(":")
        if not sep:
            raise EncryptionError(f"{column}: malformed ciphertext")
        cipher = self._cipher(key_id)
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError):
            raise EncryptionError(
                f"{column}: a value under key {key_id} does not decrypt: it was altered or "
                f"copied from another column, or key {key_id} is not the key it was made with"
            ) from None
        return plain.decode("utf-8")

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._keys.ciphers.get(key_id)
        if cipher is None and self.reload():  # a key added since start (`kefu keys new`)
            cipher = self._keys.ciphers.get(key_id)
        if cipher is None:
            raise EncryptionError(
                f"no encryption key {key_id!r} in {self.source}: add it back from the key "
                "backup (kefu cannot read values encrypted under it without it)"
            )
        return cipher


def key_id_of(value: str) -> str | None:
    """The key id a stored value is encrypted under; None for legacy plaintext."""
    if not value.startswith(V1):
        return None
    return value[len(V1) :].partition(":")[0]


def blind_index(keyring_or_key: Keyring | bytes, value: str) -> str:
    """HMAC-SHA256 of `value` (hex): an equality-lookup key for an encrypted field."""
    key = keyring_or_key.index_key if isinstance(keyring_or_key, Keyring) else keyring_or_key
    if key is None:
        raise EncryptionError("this keyring has no blind-index key (use Keyring.from_settings)")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


# -- engines ---------------------------------------------------------------------------------


def install_keyring(engine: Engine, keyring: Keyring) -> None:
    """Give an engine its keys. Kept on the dialect: one per engine, and it is what column
    types receive when they process values."""
    setattr(engine.dialect, _ATTR, keyring)


def find_keyring(engine_or_dialect: Engine | Dialect) -> Keyring | None:
    dialect = (
        engine_or_dialect.dialect if isinstance(engine_or_dialect, Engine) else engine_or_dialect
    )
    ring: Keyring | None = getattr(dialect, _ATTR, None)
    return ring


def keyring_of(engine_or_dialect: Engine | Dialect) -> Keyring:
    ring = find_keyring(engine_or_dialect)
    if ring is None:
        raise EncryptionError(
            "this database engine has no encryption keys: call "
            "kefu.privacy.crypto.install_keyring(engine, Keyring.from_settings(settings))"
        )
    return ring


def ensure_keyring(engine: Engine, settings: Settings) -> Keyring:
    """The engine's keyring, installing one from settings if it has none yet."""
    ring = find_keyring(engine)
    if ring is None:
        ring = Keyring.from_settings(settings)
        install_keyring(engine, ring)
    return ring


# Comparisons and searches: on randomised ciphertext they would silently match nothing.
_NO_PLAINTEXT_OPS = {
    operators.eq,
    operators.ne,
    operators.lt,
    operators.le,
    operators.gt,
    operators.ge,
    operators.like_op,
    operators.not_like_op,
    operators.ilike_op,
    operators.not_ilike_op,
    operators.contains_op,
    operators.not_contains_op,
    operators.startswith_op,
    operators.not_startswith_op,
    operators.endswith_op,
    operators.not_endswith_op,
    operators.in_op,
    operators.not_in_op,
    operators.between_op,
    operators.not_between_op,
    operators.match_op,
    operators.regexp_match_op,
}


class EncryptedText(TypeDecorator[str]):
    """A TEXT column stored encrypted; `column` ("table.column") is bound into every value.

    `blind_index` names a sibling column holding `blind_index()` of the value, which rotation
    fills for legacy rows. Comparing the column itself raises: ciphertexts are randomised, so
    such a query would silently match nothing."""

    impl = Text
    cache_ok = True

    class Comparator(TypeDecorator.Comparator[str]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            self._refuse(op)
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            self._refuse(op)
            return super().reverse_operate(op, other, **kwargs)

        def _refuse(self, op: Any) -> None:
            if op in _NO_PLAINTEXT_OPS:
                raise TypeError(
                    f"{self.expr} is encrypted: look it up by its blind index, not its text"
                )

    comparator_factory = Comparator

    def __init__(self, column: str, blind_index: str | None = None) -> None:
        super().__init__()
        self.column = column
        self.blind_index = blind_index

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).encrypt(value, self.column)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).decrypt(value, self.column)
