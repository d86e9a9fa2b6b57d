"""Private Docker Engines (bookworm's 20.10 and trixie's 26) that coexist with each other and the
system's own engine.

Isolation, per engine: its own containerd (started here, never the system's
/run/containerd/containerd.sock, which dockerd would otherwise adopt when present), its own
--data-root, --exec-root, --pidfile, an empty --config-file (so /etc/docker/daemon.json is not
read), sockets under a short /tmp dir (unix socket paths must stay < 108 bytes), no bridge and no
iptables, and an environment without proxies.

Registry trust, as measured by tests/integration/test_harness.py:
- 127.0.0.0/8 is always insecure for dockerd (hard-coded default, both versions; no flag removes
  it): the engine pushes to http://127.0.0.1:PORT, and to https://127.0.0.1:PORT WITHOUT
  verifying the certificate (any CA passes). A name resolving to 127.x (localhost) is the same.
- ::1 is not insecure: a plain-HTTP registry there fails ("server gave HTTP response to HTTPS
  client") unless --insecure-registry names it, and TLS is verified. Engine 26 accepts
  "[::1]:PORT/repo" references; 20.10 rejects IPv6 literals ("invalid reference format"), so use
  extra_hosts={"registry.test": "::1"} and "registry.test:PORT/repo" (works on both).
- The daemon reads registry CAs only from /etc/docker/certs.d/<host:port>/ (fixed path, no flag;
  DOCKER_CERT_PATH is a client variable; only rootless mode moves it). The alternative used here:
  Go's x509 honours SSL_CERT_FILE and dockerd falls back to the system pool when certs.d has
  nothing for the host, so start_engine(trusted_cas=...) hands the daemon a bundle of the system
  CAs plus the test CAs. Go loads that pool once: the CAs must be known when the engine starts.

`docker save` streams (GET /images/get?names=a&names=b), measured in test_harness.py:
- 20.10 (API 1.41): legacy docker-archive only, ustar headers, uname/gname "root", entries in
  sorted walk order: <v1id>/ , <v1id>/VERSION, <v1id>/json, <v1id>/layer.tar (the uncompressed
  layer, sha256 == diff_id; a layer shared at the same depth is stored once), <imageid>.json,
  manifest.json, repositories. mtimes: config and v1 entries carry the image's `created`; a
  shared layer gets the `created` of whichever image the engine walked first (random);
  manifest.json and repositories carry 0. A layer shared at a *different* depth gets a second
  v1 dir whose layer.tar is a symlink "../<v1id>/layer.tar", and those 4 entries carry the
  current time. manifest.json lists images in random (Go map) order.
- 26.1 (API 1.45): OCI layout plus manifest.json/repositories; no v1 dirs and no symlinks; empty
  uname/gname. Entries: blobs/, blobs/sha256/, blobs/sha256/<hex> (layers uncompressed,
  configs, OCI manifests, v1-compat json), index.json, manifest.json (Layers and Config point into
  blobs/sha256), oci-layout, repositories. mtimes: blobs/sha256/ and index.json carry the current
  time; blobs/ and shared layer/json blobs carry the `created` of one of the images that use them
  (which one varies); manifest blobs, manifest.json, oci-layout, repositories carry 0.
  index.json and manifest.json usually list images in request order, but not always; 20.10 does not.
Two consecutive saves of the same names therefore differ only in those mtimes and in the order
of entries inside manifest.json (and index.json); names, order, sizes and all other bytes match.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import docker

from tests.harness import CACHE_DIR, HarnessError, log_tail, spawn, stop_process, wait_until

EngineKind = Literal["bookworm", "trixie"]
ENGINE_KINDS: tuple[EngineKind, ...] = ("bookworm", "trixie")
TRIXIE_ROOT = CACHE_DIR / "trixie-docker" / "root"
READY_TIMEOUT = 90.0
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_PROXY_VARS = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}


@dataclass(frozen=True)
class _Binaries:
    dockerd: Path
    containerd: Path
    path: str


def _binaries(kind: EngineKind) -> _Binaries:
    system_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if kind == "bookworm":
        return _Binaries(Path("/usr/sbin/dockerd"), Path("/usr/bin/containerd"), system_path)
    if kind == "trixie":
        root = TRIXIE_ROOT
        if not (root / "usr/sbin/dockerd").exists():
            raise HarnessError(
                f"trixie engine not found in {root}: run scripts/install-test-deps.sh as root"
            )
        path = f"{root}/usr/bin:{root}/usr/sbin:{system_path}"
        return _Binaries(root / "usr/sbin/dockerd", root / "usr/bin/containerd", path)
    raise ValueError(f"unknown engine kind {kind!r}")


@dataclass
class EngineHandle:
    kind: EngineKind
    workdir: Path
    sockdir: Path
    data_root: Path
    log_path: Path
    containerd_log_path: Path
    version: str = ""
    api_version: str = ""
    _dockerd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _containerd: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def docker_host(self) -> str:
        return f"unix://{self.sockdir / 'docker.sock'}"

    @property
    def env(self) -> dict[str, str]:
        """Variables that point the docker CLI / SDK from_env() at this engine."""
        return {"DOCKER_HOST": self.docker_host}

    @property
    def running(self) -> bool:
        return self._dockerd is not None and self._dockerd.poll() is None

    def client(self, *, timeout: int = 300) -> docker.DockerClient:
        """A new SDK client pinned to this engine's API version (callers close it)."""
        return docker.DockerClient(
            base_url=self.docker_host, version=self.api_version or "auto", timeout=timeout
        )

    def stop(self) -> None:
        """Stop dockerd, then its containerd, then remove sockets and the (vfs-heavy) data."""
        if self._dockerd is not None:
            stop_process(self._dockerd, timeout=30.0)
            self._dockerd = None
        if self._containerd is not None:
            stop_process(self._containerd, timeout=15.0)
            self._containerd = None
        for path in (self.sockdir, self.data_root):
            _unmount_under(path)
            shutil.rmtree(path, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """Lazily unmount anything the daemons left mounted below `root`, deepest first."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root.resolve()) + "/"
    targets = [line.split()[1] for line in lines if len(line.split()) > 1]
    for target in sorted((t for t in targets if t.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _ca_bundle(dest: Path, extra: Sequence[Path]) -> Path:
    parts = [SYSTEM_CA_BUNDLE.read_text()] if SYSTEM_CA_BUNDLE.exists() else []
    parts += [p.read_text() for p in extra]
    dest.write_text("\n".join(parts))
    return dest


def _containerd_config(handle: EngineHandle) -> str:
    return f"""version = 2
root = "{handle.data_root / "containerd"}"
state = "{handle.sockdir / "ctd"}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{handle.sockdir / "containerd.sock"}"

[ttrpc]
  address = ""

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{handle.data_root / "containerd-opt"}"
"""


def _socket_accepts(path: Path) -> bool | None:
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        sock.connect(str(path))
    return True


def _exited(proc: subprocess.Popen[bytes] | None, log: Path) -> str | None:
    if proc is not None and proc.poll() is not None:
        return f"exited with {proc.returncode}:\n{log_tail(log)}"
    return None


def start_engine(
    kind: EngineKind,
    workdir: Path,
    *,
    trusted_cas: Sequence[Path] = (),
    insecure_registries: Sequence[str] = (),
    extra_hosts: Mapping[str, str] | None = None,
) -> EngineHandle:
    """Start containerd + dockerd of `kind`; returns once the API answers _ping.

    trusted_cas: extra CA certs the daemon trusts for registries (via SSL_CERT_FILE).
    insecure_registries: extra --insecure-registry values (127.0.0.0/8 already is).
    extra_hosts: {"registry.test": "::1"} names only this dockerd resolves (its own mount
    namespace sees an /etc/hosts with them). A name for ::1 is how Engine 20.10, which rejects
    IPv6 literals in references, reaches a registry it does not treat as insecure.
    """
    bins = _binaries(kind)
    workdir.mkdir(parents=True, exist_ok=True)
    sockdir = Path(tempfile.mkdtemp(prefix=f"agt-{kind[:3]}-", dir="/tmp"))
    handle = EngineHandle(
        kind=kind,
        workdir=workdir,
        sockdir=sockdir,
        data_root=workdir / "data",
        log_path=workdir / "dockerd.log",
        containerd_log_path=workdir / "containerd.log",
    )
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env.pop("DOCKER_HOST", None)
    env["PATH"] = bins.path
    if trusted_cas:
        env["SSL_CERT_FILE"] = str(_ca_bundle(workdir / "ca-bundle.crt", trusted_cas))
    try:
        config = workdir / "containerd.toml"
        config.write_text(_containerd_config(handle))
        handle._containerd = spawn(
            [bins.containerd, "--config", config],
            log_path=handle.containerd_log_path,
            env=env,
        )
        wait_until(
            lambda: _socket_accepts(sockdir / "containerd.sock"),
            timeout=READY_TIMEOUT,
            what=f"{kind} containerd (log {handle.containerd_log_path})",
            alive=lambda: _exited(handle._containerd, handle.containerd_log_path),
        )
        daemon_json = workdir / "daemon.json"
        daemon_json.write_text("{}\n")
        argv: list[str | os.PathLike[str]] = [
            bins.dockerd,
            "--config-file", daemon_json,
            "--data-root", handle.data_root,
            "--exec-root", sockdir / "exec",
            "-H", handle.docker_host,
            "--pidfile", sockdir / "dockerd.pid",
            "--containerd", sockdir / "containerd.sock",
            "--storage-driver", "vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--ip-masq=false",
        ]  # fmt: skip
        for registry in insecure_registries:
            argv += ["--insecure-registry", registry]
        if extra_hosts:
            argv = _with_hosts(workdir / "hosts", extra_hosts, argv)
        handle._dockerd = spawn(argv, log_path=handle.log_path, env=env)
        wait_until(
            lambda: _ping(handle.docker_host),
            timeout=READY_TIMEOUT,
            what=f"{kind} dockerd (log {handle.log_path})",
            alive=lambda: _exited(handle._dockerd, handle.log_path),
        )
        with contextlib.closing(
            docker.DockerClient(base_url=handle.docker_host, version="auto")
        ) as c:
            info = c.version()
        handle.version = str(info["Version"])
        handle.api_version = str(info["ApiVersion"])
    except BaseException:
        handle.stop()
        raise
    return handle


def _with_hosts(
    hosts_file: Path, extra: Mapping[str, str], argv: list[str | os.PathLike[str]]
) -> list[str | os.PathLike[str]]:
    """Run argv in a private mount namespace whose /etc/hosts also has `extra`."""
    base = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    lines = [f"{address} {name}" for name, address in extra.items()]
    hosts_file.write_text(base.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, hosts_file, *argv]


def _ping(base_url: str) -> bool | None:
    with contextlib.closing(docker.DockerClient(base_url=base_url, version="1.24", timeout=2)) as c:
        return True if c.ping() else None
