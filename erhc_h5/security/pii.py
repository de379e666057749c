"""Column-level encryption of personal data (SM4-GCM or AES-256-GCM), blind indexes and empi."""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import current_app, has_app_context
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from erhc_h5.records.idnumbers import person_key

try:  # the contexts Cipher(...).encryptor() builds, without its per-call Python checks (~40 % of the call)
    from cryptography.hazmat.bindings._rust import openssl as _rust_openssl

    _DIRECT_CONTEXTS = (_rust_openssl.ciphers.create_encryption_ctx, _rust_openssl.ciphers.create_decryption_ctx)
except (ImportError, AttributeError):  # another cryptography layout: the public API only
    _DIRECT_CONTEXTS = None


class PIIError(RuntimeError):
    """A stored value cannot be decrypted (unknown key id or tampered ciphertext)."""


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))


KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,16}")
CIPHER_TAGS = {"sm4-gcm": "s", "aes-256-gcm": "a"}
NONCE_BYTES = 12
TAG_BYTES = 16


@dataclass
class Keyring:
    """The PII keys by id; the active one encrypts, all of them decrypt.

    Stored form: ``<cipher tag><key id>$<base64url(nonce | ciphertext | tag)>``, tag ``s`` for
    SM4-GCM and ``a`` for AES-256-GCM. The key id is authenticated as associated data, so a value
    cannot be replayed under another key id; the cipher tag needs no AAD because decrypting under
    the other algorithm fails authentication. Nonces are 96 random bits: rotate the active key
    long before 2**32 writes under one key. Keys are at least 16 random bytes; SM4 uses the first
    16, AES-256 the first 32 and refuses a shorter key (never zero-padded).
    """

    keys: dict[str, bytes]
    active: str
    cipher: str = "sm4-gcm"
    # Algorithm objects by (key id, cipher), built once: they only hold the key.
    _algorithms: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # (encryption, decryption) context factories: cryptography's own, reached directly once a
    # self-test shows they give the public API's exact bytes; else the public Cipher API.
    _contexts: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cipher not in CIPHER_TAGS:
            raise PIIError(f"unknown PII cipher {self.cipher!r} (sm4-gcm or aes-256-gcm)")
        if not self.keys:
            raise PIIError("no PII keys configured (ERHC_PII_KEYS)")
        for kid, key in self.keys.items():
            if not KEY_ID_PATTERN.fullmatch(kid):
                raise PIIError(f"PII key id {kid!r} must be 1-16 letters, digits, '_' or '-'")
            if len(key) < 16:
                raise PIIError(f"PII key {kid!r} must be at least 16 bytes, got {len(key)}")
        if self.active not in self.keys:
            raise PIIError(f"active PII key id {self.active!r} is not among ERHC_PII_KEYS")
        if self.cipher == "aes-256-gcm" and len(self.keys[self.active]) < 32:
            raise PIIError(f"AES-256-GCM needs a key of at least 32 bytes; {self.active!r} is shorter")

    @classmethod
    def from_config(cls, cfg) -> "Keyring":
        raw = cfg["PII_KEYS"]
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise PIIError("ERHC_PII_KEYS must be a JSON object {key id: base64 key}") from exc
        if not isinstance(raw, dict):
            raise PIIError("ERHC_PII_KEYS must be a JSON object {key id: base64 key}")
        keys = {}
        for kid, val in raw.items():
            try:
                keys[str(kid)] = _b64decode(str(val))
            except (binascii.Error, ValueError) as exc:
                raise PIIError(f"PII key {kid!r} is not valid base64") from exc
        return cls(keys=keys, active=str(cfg["PII_ACTIVE_KEY_ID"]), cipher=cfg["PII_CIPHER"])

    @property
    def active_prefix(self) -> str:
        """The head every value written now starts with (cipher tag, key id, '$')."""
        return f"{CIPHER_TAGS[self.cipher]}{self.active}$"

    def _algorithm(self, key: bytes, cipher: str):
        if cipher == "sm4-gcm":
            return algorithms.SM4(key[:16])
        if len(key) < 32:
            raise PIIError("AES-256-GCM needs a key of at least 32 bytes")
        return algorithms.AES(key[:32])

    def _cached_algorithm(self, kid: str, cipher: str):
        algo = self._algorithms.get((kid, cipher))
        if algo is None:
            algo = self._algorithms[(kid, cipher)] = self._algorithm(self.keys[kid], cipher)
        return algo

    def _context_factories(self) -> tuple:
        if self._contexts is None:
            self._contexts = _public_contexts
            if _DIRECT_CONTEXTS is not None:
                try:
                    if _same_bytes(self._cached_algorithm(self.active, self.cipher), _DIRECT_CONTEXTS):
                        self._contexts = _DIRECT_CONTEXTS
                except Exception:  # noqa: BLE001 — any surprise: keep the public API
                    pass
        return self._contexts

    def encrypt(self, plaintext: str) -> str:
        kid = self.active
        iv = os.urandom(NONCE_BYTES)
        enc = self._context_factories()[0](self._cached_algorithm(kid, self.cipher), modes.GCM(iv))
        enc.authenticate_additional_data(kid.encode())
        ct = enc.update(plaintext.encode("utf-8")) + enc.finalize()
        blob = base64.urlsafe_b64encode(iv + ct + enc.tag).decode("ascii").rstrip("=")
        return f"{CIPHER_TAGS[self.cipher]}{kid}${blob}"

    def decrypt(self, stored: str) -> str:
        head, sep, blob = stored.partition("$")
        if not sep or len(head) < 2 or head[0] not in ("s", "a"):
            raise PIIError("malformed ciphertext")
        cipher = "sm4-gcm" if head[0] == "s" else "aes-256-gcm"
        kid = head[1:]
        if kid not in self.keys:
            raise PIIError(f"unknown PII key id {kid!r}")
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        except (binascii.Error, ValueError) as exc:
            raise PIIError("malformed ciphertext") from exc
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise PIIError("malformed ciphertext")
        iv, ct, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
        dec = self._context_factories()[1](self._cached_algorithm(kid, cipher), modes.GCM(iv, tag))
        dec.authenticate_additional_data(kid.encode())
        try:
            return (dec.update(ct) + dec.finalize()).decode("utf-8")
        except InvalidTag as exc:
            raise PIIError("ciphertext failed authentication") from exc

    @staticmethod
    def key_id_of(stored: str) -> str:
        return stored.partition("$")[0][1:]

    def needs_rotation(self, stored: str) -> bool:
        """Whether a stored value was written under another key id or cipher than now."""
        return not stored.startswith(self.active_prefix)


_public_contexts = (lambda algo, mode: Cipher(algo, mode).encryptor(), lambda algo, mode: Cipher(algo, mode).decryptor())


def _same_bytes(algo, contexts) -> bool:
    """The direct contexts encrypt and decrypt exactly as the public API does (fixed nonce, AAD)."""
    iv, aad, text = bytes(range(NONCE_BYTES)), b"self-test", "自检 self-test".encode("utf-8")
    out = []
    for make in (_public_contexts[0], contexts[0]):
        enc = make(algo, modes.GCM(iv))
        enc.authenticate_additional_data(aad)
        out.append(enc.update(text) + enc.finalize() + enc.tag)
    if out[0] != out[1]:
        return False
    dec = contexts[1](algo, modes.GCM(iv, out[0][-TAG_BYTES:]))
    dec.authenticate_additional_data(aad)
    return dec.update(out[0][:-TAG_BYTES]) + dec.finalize() == text


def keyring() -> Keyring:
    """The keyring of the current app (built once per app)."""
    app = current_app
    ring = app.extensions.get("erhc_pii")
    if ring is None:
        ring = app.extensions["erhc_pii"] = Keyring.from_config(app.config)
    return ring


# json.dumps(value, ensure_ascii=False, sort_keys=True), without building an encoder per call.
_json_text = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


class Sealed(str):
    """A value already encrypted by ``seal`` / ``seal_json``: the column stores it as it is.

    Lets a bulk writer encrypt before taking a database write lock, with the very bytes the
    column type would have produced."""


def seal(value, ring: Keyring | None = None) -> Sealed | None:
    """What an EncryptedText column would store for ``value``, computed now (``ring``: the app's
    keyring, when the caller holds it already)."""
    return None if value is None else Sealed((ring or keyring()).encrypt(str(value)))


def seal_json(value, ring: Keyring | None = None) -> Sealed | None:
    """What an EncryptedJSON column would store for ``value``, computed now."""
    return None if value is None else seal(_json_text(value), ring)


class EncryptedText(TypeDecorator):
    """A text column stored encrypted with the key id in front; None stays NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if type(value) is Sealed:
            return str(value)
        if not has_app_context():
            raise PIIError("personal data can only be written inside an app context")
        return keyring().encrypt(str(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keyring().decrypt(value)


class EncryptedJSON(EncryptedText):
    """A JSON document stored encrypted."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and type(value) is not Sealed:
            value = _json_text(value)
        return super().process_bind_param(value, dialect)

    def process_result_value(self, value, dialect):
        text = super().process_result_value(value, dialect)
        return None if text is None else json.loads(text)


_HMAC_BASES: dict[str, hmac.HMAC] = {}


def _hmac_sm3(key: str, message: str) -> str:
    base = _HMAC_BASES.get(key)
    if base is None:
        if len(_HMAC_BASES) > 16:  # keys come from config; a handful per process
            _HMAC_BASES.clear()
        base = _HMAC_BASES[key] = hmac.HMAC(key.encode("utf-8"), hashes.SM3())
    mac = base.copy()  # the keyed inner/outer state, set up once per key
    mac.update(message.encode("utf-8"))
    return mac.finalize().hex()


def blind_index(kind: str, value: str) -> str:
    """Keyed, deterministic index of a personal value for equality lookups (never reversible)."""
    return _hmac_sm3(current_app.config["BLIND_INDEX_KEY"], f"{kind}:{value.strip().upper()}")


def make_empi(id_card_type_code: str, idcode: str, nationality: str | None = None) -> str:
    """Resident master index: HMAC-SM3 of the person key; same person, same empi, whatever the document type."""
    return _hmac_sm3(current_app.config["EMPI_KEY"], person_key(id_card_type_code, idcode, nationality)).upper()


def person_index(id_card_type_code: str, idcode: str, nationality: str | None = None) -> str:
    """Keyed index of the person key: card lookups, lockouts and limits count per person with it."""
    return blind_index("idcode", person_key(id_card_type_code, idcode, nationality))
