"""Ed25519 signatures over canonical JSON, with keys kept as files (pure; no database).

A key lives in ``TORGHUT_SIGNING_KEY_DIR`` as ``<name>.key`` (PKCS#8 PEM, mode 0600); its
public half is recorded in the database (``promotions.models.SigningKey``) with its status, so
every process and every verifier agrees on which keys are active, retired or revoked. The key id
is ``ed25519:`` + the first 16 hex digits of the sha256 of the raw public key, so it names one
key everywhere.

Signatures are base64 of Ed25519 over the canonical JSON bytes of the signed document
(``core.canonical.canonical_json``). :func:`verify` needs only the public key, so an evidence
bundle verifies offline.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.canonical import canonical_json

ALGORITHM = "ed25519"


@dataclass(frozen=True)
class KeyPair:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public_b64(self) -> str:
        return public_b64(self.private.public_key())


def public_b64(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id_for(public_key_b64: str) -> str:
    return f"{ALGORITHM}:{hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()[:16]}"


def _path(key_dir: Path, key_id: str) -> Path:
    return Path(key_dir) / (key_id.replace(":", "-") + ".key")


def generate(key_dir: Path) -> KeyPair:
    """Create a new key file (0600) in ``key_dir`` and return it."""
    private = Ed25519PrivateKey.generate()
    pair = KeyPair(key_id_for(public_b64(private.public_key())), private)
    key_dir = Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(_path(key_dir, pair.key_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return pair


def load(key_dir: Path, key_id: str) -> KeyPair:
    """The private key ``key_id`` from its file; ``FileNotFoundError`` when this machine lacks it."""
    private = serialization.load_pem_private_key(_path(key_dir, key_id).read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{key_id}: the key file does not hold an Ed25519 key")
    pair = KeyPair(key_id_for(public_b64(private.public_key())), private)
    if pair.key_id != key_id:
        raise ValueError(f"the key file for {key_id} holds another key ({pair.key_id})")
    return pair


def sign(pair: KeyPair, document: dict) -> str:
    return base64.b64encode(pair.private.sign(canonical_json(document))).decode()


def verify(public_key_b64: str, document: dict, signature_b64: str) -> bool:
    """True when ``signature_b64`` is the key's signature over the document's canonical JSON."""
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        public.verify(base64.b64decode(signature_b64, validate=True), canonical_json(document))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
