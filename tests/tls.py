"""A certificate for 127.0.0.1, for the TLS tests (handshake and cluster).

Made with `trustme` (a test CA in memory), so the tests need nothing but Python: no
``openssl`` command.
"""

from __future__ import annotations

from pathlib import Path

import trustme


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert, key) for 127.0.0.1 in `folder`, for both ends of a link.

    `cert` holds the leaf certificate followed by the test CA's, so the same file
    serves as the certificate chain and as the CA file that verifies it (as a
    self-signed certificate would).
    """
    authority = trustme.CA(organization_name="repertory tests")
    leaf = authority.issue_cert("127.0.0.1", common_name="repertory-test")
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
                     + authority.cert_pem.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key
