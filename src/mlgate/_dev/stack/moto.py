"""moto's standalone S3 server on 127.0.0.1 (the local stand-in for AWS S3), over plain HTTP for
unit tests or over TLS with a self-signed certificate for the local stack (whose buckets deny
non-TLS requests, which moto enforces)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import sys
from pathlib import Path

from mlgate.integrations.servers import LOOPBACK, Server, free_port, start

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "mlgate-local",
    "AWS_SECRET_ACCESS_KEY": "mlgate-local-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost (reused if present); returns (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "tls-cert.pem", folder / "tls-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlgate local stack")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def start_moto(port: int = 0, log_path: Path | None = None, tls_dir: Path | None = None) -> Server:
    """Start moto on 127.0.0.1. With ``tls_dir`` it serves HTTPS with a self-signed certificate
    kept there; clients then need ``AWS_CA_BUNDLE=<tls_dir>/tls-cert.pem``."""
    port = port or free_port()
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    argv = [exe, "-H", LOOPBACK, "-p", str(port)]
    scheme = "http"
    health_ctx = None
    if tls_dir is not None:
        cert, key = self_signed_cert(tls_dir)
        argv += ["-c", str(cert), "-k", str(key)]
        scheme = "https"
        health_ctx = cert
    url = f"{scheme}://{LOOPBACK}:{port}"
    return start("moto", argv, url, url + "/moto-api/", log_path=log_path, ca_file=health_ctx)
