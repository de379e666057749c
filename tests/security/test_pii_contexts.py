"""Encryption through cryptography's contexts reached directly: same stored form,
readable by the public API written out here by hand, and the public API when the self-test fails."""
from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from erhc_h5.security import pii
from erhc_h5.security.pii import Keyring, _public_contexts


def _decrypt_by_hand(stored: str, key: bytes) -> str:
    """The documented stored form: <tag><kid>$base64url(nonce | ciphertext | tag), AAD = kid."""
    head, _, blob = stored.partition("$")
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    algo = algorithms.SM4(key[:16]) if head[0] == "s" else algorithms.AES(key[:32])
    dec = Cipher(algo, modes.GCM(raw[:12], raw[-16:])).decryptor()
    dec.authenticate_additional_data(head[1:].encode())
    return (dec.update(raw[12:-16]) + dec.finalize()).decode("utf-8")


def _encrypt_by_hand(text: str, key: bytes, kid: str) -> str:
    iv = os.urandom(12)
    enc = Cipher(algorithms.SM4(key[:16]), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(kid.encode())
    ct = enc.update(text.encode("utf-8")) + enc.finalize()
    return "s" + kid + "$" + base64.urlsafe_b64encode(iv + ct + enc.tag).decode().rstrip("=")


@pytest.mark.parametrize("cipher", ["sm4-gcm", "aes-256-gcm"])
def test_direct_contexts_write_what_the_public_api_reads(cipher):
    key = os.urandom(32)
    ring = Keyring(keys={"k1": key}, active="k1", cipher=cipher)
    values = ["张三丰", "", "330106199003071236", "x" * 5000, "浙江省杭州市西湖区某路1号"]
    stored = [ring.encrypt(v) for v in values]
    if pii._DIRECT_CONTEXTS is not None:
        assert ring._contexts is pii._DIRECT_CONTEXTS, "the self-test should pass on this cryptography"
    assert [_decrypt_by_hand(s, key) for s in stored] == values
    assert all(s.startswith(("s" if cipher == "sm4-gcm" else "a") + "k1$") for s in stored)


def test_direct_contexts_read_what_the_public_api_wrote_and_refuse_tampering():
    key = os.urandom(32)
    ring = Keyring(keys={"k1": key}, active="k1")
    stored = _encrypt_by_hand("李四", key, "k1")
    assert ring.decrypt(stored) == "李四"
    head, _, blob = stored.partition("$")
    with pytest.raises(pii.PIIError):
        ring.decrypt(f"{head}${blob[:-2]}{'AA' if blob[-2:] != 'AA' else 'BB'}")


def test_public_api_when_the_self_test_fails(monkeypatch):
    def broken(algo, mode):  # a layout whose contexts would not give the same bytes
        raise TypeError("unexpected signature")

    monkeypatch.setattr(pii, "_DIRECT_CONTEXTS", (broken, broken))
    key = os.urandom(32)
    ring = Keyring(keys={"k1": key}, active="k1")
    stored = ring.encrypt("王五")
    assert ring._contexts is _public_contexts
    assert _decrypt_by_hand(stored, key) == "王五" and ring.decrypt(stored) == "王五"
