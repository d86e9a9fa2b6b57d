"""A throwaway CA and a loopback server certificate, made with the openssl CLI (no new deps)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# registry.test: the name session engines resolve to ::1 (see conftest `engine`).
ENGINE_TLS_HOSTNAME = "registry.test"
DEFAULT_SANS = ("IP:127.0.0.1", "IP:::1", "DNS:localhost", f"DNS:{ENGINE_TLS_HOSTNAME}")


@dataclass(frozen=True)
class CA:
    cert: Path
    key: Path


@dataclass(frozen=True)
class TLSMaterial:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @property
    def pair(self) -> tuple[Path, Path]:
        """(cert, key) in the shape start_registry(tls=...) takes."""
        return (self.server_cert, self.server_key)


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_ca(workdir: Path, *, days: int = 2, name: str = "ca") -> CA:
    """A fresh self-signed CA (NAME.crt / NAME.key) under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", str(days),
        "-subj", f"/CN=airgap-tui test CA {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=workdir,
    )  # fmt: skip
    return CA(cert=workdir / f"{name}.crt", key=workdir / f"{name}.key")


def make_server_cert(
    workdir: Path, ca: CA, *, sans: tuple[str, ...] = DEFAULT_SANS, days: int = 2,
    name: str = "server",
) -> tuple[Path, Path]:  # fmt: skip
    """A serverAuth cert for the loopback names in `sans`, signed by `ca`: (cert, key)."""
    workdir.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-new", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", "/CN=127.0.0.1",
        cwd=workdir,
    )  # fmt: skip
    ext = workdir / f"{name}.ext"
    ext.write_text(
        f"subjectAltName={','.join(sans)}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", f"{name}.crt", "-days", str(days), "-extfile", ext.name,
        cwd=workdir,
    )  # fmt: skip
    return (workdir / f"{name}.crt", workdir / f"{name}.key")


def make_tls(workdir: Path, *, sans: tuple[str, ...] = DEFAULT_SANS, days: int = 2) -> TLSMaterial:
    """A fresh CA plus one server cert signed by it, all under `workdir`."""
    ca = make_ca(workdir, days=days)
    cert, key = make_server_cert(workdir, ca, sans=sans, days=days)
    return TLSMaterial(ca_cert=ca.cert, ca_key=ca.key, server_cert=cert, server_key=key)
