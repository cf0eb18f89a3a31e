"""A self-signed certificate for 127.0.0.1, for the TLS tests (handshake and cluster)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert, key) for 127.0.0.1, made with the openssl command in `folder`.

    The command is part of the test setup (it is on every machine we test on): where it
    is missing this fails, rather than skip the TLS tests unseen.
    """
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the TLS tests' certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=repertory-test", "-keyout", str(key),
         "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key
