"""Column-level encryption of personal data (SM4-GCM or AES-256-GCM), blind indexes and empi."""
from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import current_app, has_app_context
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class PIIError(RuntimeError):
    """A stored value cannot be decrypted (unknown key id or tampered ciphertext)."""


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))


@dataclass
class Keyring:
    """The PII keys by id; the active one encrypts, all of them decrypt."""

    keys: dict[str, bytes]
    active: str
    cipher: str = "sm4-gcm"

    @classmethod
    def from_config(cls, cfg) -> "Keyring":
        raw = cfg["PII_KEYS"]
        if isinstance(raw, str):
            raw = json.loads(raw)
        keys = {str(kid): _b64decode(val) for kid, val in raw.items()}
        return cls(keys=keys, active=str(cfg["PII_ACTIVE_KEY_ID"]), cipher=cfg["PII_CIPHER"])

    def _algorithm(self, key: bytes, cipher: str):
        if cipher == "sm4-gcm":
            return algorithms.SM4(key[:16])
        return algorithms.AES(key[:32].ljust(32, b"\0"))

    def encrypt(self, plaintext: str) -> str:
        kid = self.active
        key = self.keys[kid]
        iv = os.urandom(12)
        tag_cipher = "s" if self.cipher == "sm4-gcm" else "a"
        enc = Cipher(self._algorithm(key, self.cipher), modes.GCM(iv)).encryptor()
        enc.authenticate_additional_data(kid.encode())
        ct = enc.update(plaintext.encode("utf-8")) + enc.finalize()
        blob = base64.urlsafe_b64encode(iv + ct + enc.tag).decode("ascii").rstrip("=")
        return f"{tag_cipher}{kid}${blob}"

    def decrypt(self, stored: str) -> str:
        head, sep, blob = stored.partition("$")
        if not sep or len(head) < 2:
            raise PIIError("malformed ciphertext")
        cipher = "sm4-gcm" if head[0] == "s" else "aes-256-gcm"
        kid = head[1:]
        if kid not in self.keys:
            raise PIIError(f"unknown PII key id {kid!r}")
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        except (binascii.Error, ValueError) as exc:
            raise PIIError("malformed ciphertext") from exc
        iv, ct, tag = raw[:12], raw[12:-16], raw[-16:]
        dec = Cipher(self._algorithm(self.keys[kid], cipher), modes.GCM(iv, tag)).decryptor()
        dec.authenticate_additional_data(kid.encode())
        try:
            return (dec.update(ct) + dec.finalize()).decode("utf-8")
        except InvalidTag as exc:
            raise PIIError("ciphertext failed authentication") from exc

    @staticmethod
    def key_id_of(stored: str) -> str:
        return stored.partition("$")[0][1:]


def keyring() -> Keyring:
    """The keyring of the current app (built once per app)."""
    app = current_app
    ring = app.extensions.get("erhc_pii")
    if ring is None:
        ring = app.extensions["erhc_pii"] = Keyring.from_config(app.config)
    return ring


class EncryptedText(TypeDecorator):
    """A text column stored encrypted with the key id in front; None stays NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
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
        if value is None:
            return None
        return super().process_bind_param(json.dumps(value, ensure_ascii=False, sort_keys=True), dialect)

    def process_result_value(self, value, dialect):
        text = super().process_result_value(value, dialect)
        return None if text is None else json.loads(text)


def _hmac_sm3(key: str, message: str) -> str:
    mac = hmac.HMAC(key.encode("utf-8"), hashes.SM3())
    mac.update(message.encode("utf-8"))
    return mac.finalize().hex()


def blind_index(kind: str, value: str) -> str:
    """Keyed, deterministic index of a personal value for equality lookups (never reversible)."""
    return _hmac_sm3(current_app.config["BLIND_INDEX_KEY"], f"{kind}:{value.strip().upper()}")


def make_empi(id_card_type_code: str, idcode: str) -> str:
    """Resident master index: HMAC-SM3 of document type + number; same person, same empi."""
    return _hmac_sm3(current_app.config["EMPI_KEY"], f"{id_card_type_code}:{idcode.strip().upper()}").upper()
