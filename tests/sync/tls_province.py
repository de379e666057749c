"""Real TLS peers for the upload client: certificates made here with ``cryptography`` (a test CA,
a good leaf, a self-signed one, an expired one, one for another host) and a local server that
completes the handshake and answers every batch, or one that accepts and never answers the
ClientHello."""
from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "localhost"


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        return cert_path, key_path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(common_name: str, *, issuer: Issued | None = None, ca: bool = False, hosts: tuple[str, ...] = (HOST,),
          valid_days: tuple[int, int] = (-1, 30)) -> Issued:
    """A certificate for ``hosts`` signed by ``issuer`` (self-signed when None), valid from/to days from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name))
               .issuer_name(issuer.cert.subject if issuer else _name(common_name))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + dt.timedelta(days=valid_days[0]))
               .not_valid_after(now + dt.timedelta(days=valid_days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


class TlsProvince:
    """HTTPS on 127.0.0.1 with one certificate; every request gets a 200 accepting the ids it sent.
    ``stall``: accept TCP and never answer the ClientHello. ``date_offset``: seconds added to Date."""

    def __init__(self, cert: Path | None, key: Path | None, *, stall: bool = False) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.stall = stall
        self.context = None
        if not stall:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert, key)
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        self.closed_by_peer = threading.Event()
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.listener.getsockname()[1]}"

    def __enter__(self) -> TlsProvince:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.conns.append(conn)
            self.accepted.set()
            target = self._watch_close if self.stall else self._answer
            threading.Thread(target=target, args=(conn,), daemon=True).start()

    def _watch_close(self, conn: socket.socket) -> None:
        """Never answer; notice when the client gives up on the connection."""
        conn.settimeout(0.1)
        while not self._stop.is_set():
            try:
                if conn.recv(65536) == b"":
                    self.closed_by_peer.set()
                    return
            except TimeoutError:
                continue
            except OSError:
                self.closed_by_peer.set()
                return

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate
        with tls:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(body) < length:
                body += tls.recv(65536)
            self.requests += 1
            envelope = json.loads(body)
            reply = json.dumps({"cd_batch": envelope["cd_batch"], "accepted": [r["id"] for r in envelope["records"]],
                                "rejected": []}).encode()
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        + f"Date: {email.utils.formatdate(usegmt=True)}\r\n".encode()
                        + f"Content-Length: {len(reply)}\r\n\r\n".encode() + reply)
