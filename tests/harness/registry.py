"""A real Docker Distribution registry (`docker-registry serve`) on a loopback port.

Each registry keeps its config, storage and log in its own workdir, so restart() brings back the
same content on the same port (the "registry went away mid-push" tests rely on that).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness import HarnessError, free_port, log_tail, spawn, stop_process, wait_until

READY_TIMEOUT = 30.0
_PORT_ATTEMPTS = 5


@dataclass
class RegistryHandle:
    workdir: Path
    bind: str
    port: int
    config_path: Path
    storage_dir: Path
    log_path: Path
    tls: tuple[Path, Path] | None = None
    credentials: tuple[str, str] | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT` (or `[::1]:PORT`): the registry part of an image reference."""
        return f"[{self.bind}]:{self.port}" if ":" in self.bind else f"{self.bind}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process and wait until /v2/ answers; no-op when already running."""
        if self.running:
            return
        self._proc = spawn(
            ["docker-registry", "serve", self.config_path], log_path=self.log_path, cwd=self.workdir
        )
        wait_until(
            self._probe,
            timeout=READY_TIMEOUT,
            what=f"registry {self.host} (log {self.log_path})",
            alive=self._dead,
        )

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same storage."""
        self.stop()
        self.start()

    def wipe(self) -> None:
        """Drop every repository and blob; a running registry is restarted empty."""
        was_running = self.running
        self.stop()
        shutil.rmtree(self.storage_dir, ignore_errors=True)
        self.storage_dir.mkdir(parents=True)
        if was_running:
            self.start()

    def _dead(self) -> str | None:
        if self._proc is not None and self._proc.poll() is not None:
            return f"exited with {self._proc.returncode}:\n{log_tail(self.log_path)}"
        return None

    def _probe(self) -> bool | None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=2, context=ctx) as resp:
                return True if resp.status == 200 else None
        except urllib.error.HTTPError as exc:
            return True if exc.code == 401 else None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def token_auth(token_url: str, root_cert_bundle: Path) -> dict[str, Any]:
    """`config_overrides` for a registry that wants bearer tokens from `token_url`/token."""
    return {
        "auth": {
            "token": {
                "realm": f"{token_url}/token",
                "service": "airgap-tui-test-registry",
                "issuer": "airgap-tui-test-issuer",
                "rootcertbundle": str(root_cert_bundle),
            }
        }
    }


def write_htpasswd(path: Path, username: str, password: str) -> None:
    """bcrypt htpasswd via apache2-utils (distribution only accepts bcrypt); password on stdin."""
    result = subprocess.run(
        ["htpasswd", "-B", "-i", "-c", str(path), username],
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HarnessError(f"htpasswd failed: {result.stderr.strip()} (install apache2-utils)")


def _config(
    handle: RegistryHandle, htpasswd_file: Path | None, overrides: dict[str, Any] | None
) -> dict[str, Any]:
    http: dict[str, Any] = {
        "addr": f"{handle.host}",
        "secret": "airgap-tui-test-secret",
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if handle.tls:
        http["tls"] = {"certificate": str(handle.tls[0]), "key": str(handle.tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(handle.storage_dir)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if htpasswd_file is not None:
        config["auth"] = {"htpasswd": {"realm": "airgap-tui-test", "path": str(htpasswd_file)}}
    return _deep_merge(config, overrides or {})


def start_registry(
    workdir: Path,
    *,
    htpasswd: tuple[str, str] | None = None,
    tls: tuple[Path, Path] | None = None,
    port: int | None = None,
    bind: str = "127.0.0.1",
    config_overrides: dict[str, Any] | None = None,
) -> RegistryHandle:
    """Start a registry serving `workdir/storage`; returns once GET /v2/ answers (200 or 401).

    htpasswd=(user, password) turns on basic auth; tls=(cert, key) serves HTTPS. bind="::1" gives
    a registry the engine does not treat as insecure (127.0.0.0/8 always is; see engine.py).
    config_overrides is deep-merged into the generated config.yml
    (e.g. {"storage": {"maintenance": {"readonly": {"enabled": True}}}}).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    htpasswd_file: Path | None = None
    if htpasswd is not None:
        htpasswd_file = workdir / "htpasswd"
        write_htpasswd(htpasswd_file, *htpasswd)
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    last: HarnessError | None = None
    for _ in range(attempts):
        handle = RegistryHandle(
            workdir=workdir,
            bind=bind,
            port=port if port is not None else free_port(bind),
            config_path=workdir / "config.yml",
            storage_dir=storage,
            log_path=workdir / "registry.log",
            tls=tls,
            credentials=htpasswd,
        )
        handle.config_path.write_text(
            yaml.safe_dump(_config(handle, htpasswd_file, config_overrides), sort_keys=False)
        )
        try:
            handle.start()
            return handle
        except HarnessError as exc:
            handle.stop()
            last = exc
            if "address already in use" not in log_tail(handle.log_path, 5):
                raise
    assert last is not None
    raise last
