"""The sandbox's private certificate authority: a CA made at start, a server certificate for loopback, and a bundle.

simple-salesforce and python-quickbooks only speak HTTPS, so the emulators serve TLS with a certificate from this CA,
and clients trust it through a CA bundle file (the public roots plus this CA, so nothing else breaks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import certifi
import trustme


@dataclass(frozen=True)
class SandboxCertificates:
    ca_file: Path  # the sandbox CA alone
    bundle_file: Path  # public roots + the sandbox CA: what clients are pointed at
    cert_file: Path  # server certificate chain for 127.0.0.1 / localhost
    key_file: Path


def create_sandbox_certificates(directory: Path) -> SandboxCertificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Crosswalk sandbox")
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_file = directory / "sandbox-ca.pem"
    bundle_file = directory / "ca-bundle.pem"
    cert_file = directory / "server-cert.pem"
    key_file = directory / "server-key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    bundle_file.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + ca.cert_pem.bytes())
    key_file.chmod(0o600)
    return SandboxCertificates(ca_file=ca_file, bundle_file=bundle_file, cert_file=cert_file, key_file=key_file)
