"""The Docker Engine, through the docker SDK: load stream, tag, push (the offline --via-docker).

Every call streams (no archive is held in memory), reports progress as events and checks a
CancelToken between chunks. Engine errors become EngineError sentences that name DOCKER_HOST.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import docker
import docker.errors
import requests

from airgap_tui.errors import AuthError, EngineError, NotFoundError, RegistryError, TLSError
from airgap_tui.events import (
    STAGE_LOAD,
    STAGE_PUSH,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from airgap_tui.models import Credentials
from airgap_tui.registry.reference import ImageRef

ArchiveFormat = Literal["docker-archive", "oci"]

# Engine 25 (API 1.44) and later write `docker save` as an OCI image layout.
OCI_SAVE_API = (1, 44)


@dataclass(frozen=True)
class EngineInfo:
    docker_host: str
    version: str
    api_version: str
    os: str
    arch: str

    @property
    def archive_format(self) -> ArchiveFormat:
        """The layout `docker save` writes: "oci" on Engine 25+, else "docker-archive"."""
        major, minor = (int(x) for x in self.api_version.split(".")[:2])
        return "oci" if (major, minor) >= OCI_SAVE_API else "docker-archive"


@dataclass(frozen=True)
class ImageDetails:
    image_id: str
    repo_tags: list[str]
    repo_digests: list[str]
    diff_ids: list[str]
    size: int
    os: str = ""
    arch: str = ""

    def digest_for(self, repository: str) -> str:
        """The registry digest recorded for `repository` (`host/path`), or ""."""
        for entry in self.repo_digests:
            name, _, digest = entry.partition("@")
            if name == repository:
                return digest
        return ""


@dataclass
class _LayerProgress:
    current: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)

    def update(self, event: dict[str, Any]) -> None:
        layer = event.get("id")
        detail = event.get("progressDetail") or {}
        if not layer or not isinstance(detail, dict):
            return
        status = str(event.get("status", ""))
        if "total" in detail and detail.get("total"):
            self.total[layer] = int(detail["total"])
        if "current" in detail and status.startswith(("Downloading", "Pushing")):
            self.current[layer] = int(detail["current"])
        if status in (
            "Download complete",
            "Pull complete",
            "Pushed",
            "Layer already exists",
            "Already exists",
            "Mounted from",
        ):
            self.current[layer] = self.total.get(layer, self.current.get(layer, 0))

    @property
    def done(self) -> int:
        return sum(self.current.values())

    @property
    def size(self) -> int:
        return sum(self.total.values())


def docker_host_label() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _auth(credentials: Credentials | None) -> dict[str, str] | None:
    if credentials is None:
        return None
    return {"username": credentials.username, "password": credentials.password}


class Engine:
    """One Docker engine. `connect()` honours DOCKER_HOST and ~/.docker/config.json."""

    def __init__(self, client: docker.DockerClient, docker_host: str) -> None:
        self.client = client
        self.docker_host = docker_host

    @classmethod
    def connect(cls, docker_host: str | None = None, *, timeout: int = 600) -> Engine:
        host = docker_host or docker_host_label()
        try:
            if docker_host:
                client = docker.DockerClient(base_url=docker_host, timeout=timeout)
            else:
                client = docker.from_env(timeout=timeout)
            client.ping()
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineError(
                f"Docker engine at {host}",
                f"it is not reachable ({_unreachable_cause(exc)})",
                "Start Docker (systemctl start docker) or point DOCKER_HOST at a running engine; "
                "`verify` and `snippet` work without one",
            ) from None
        return cls(client, host)

    def info(self) -> EngineInfo:
        data = self._call("read the engine version", self.client.api.version)
        return EngineInfo(
            docker_host=self.docker_host,
            version=str(data.get("Version", "?")),
            api_version=str(data.get("ApiVersion", "1.41")),
            os=str(data.get("Os", "")),
            arch=str(data.get("Arch", "")),
        )

    def close(self) -> None:
        self.client.close()

    def insecure_registry(self, host: str) -> bool:
        """Whether the engine reaches `host` over plain HTTP (its insecure-registries), so our
        registry client talks to the same registry the same way the push will."""
        info = self._call("read the engine's registry settings", self.client.info)
        return registry_is_insecure(host, info.get("RegistryConfig") or {})

    # --- images -------------------------------------------------------------------------
    def inspect(self, ref: str) -> ImageDetails | None:
        try:
            data = self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                return None
            raise self._error(f"inspect image {ref}", exc) from None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._error(f"inspect image {ref}", exc) from None
        rootfs = data.get("RootFS") or {}
        return ImageDetails(
            image_id=str(data["Id"]),
            repo_tags=list(data.get("RepoTags") or []),
            repo_digests=list(data.get("RepoDigests") or []),
            diff_ids=list(rootfs.get("Layers") or []),
            size=int(data.get("Size") or 0),
            os=str(data.get("Os", "")),
            arch=str(data.get("Architecture", "")),
        )

    def tag(self, image: str, target: str) -> None:
        ref = _parse_target(target)
        repo = f"{ref.registry}/{ref.repository}"
        self._call(f"tag {image} as {target}", self.client.api.tag, image, repo, ref.tag)

    def remove(self, ref: str) -> None:
        try:
            self.client.api.remove_image(ref, force=True)
        except docker.errors.ImageNotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code != 404:
                raise self._error(f"remove image {ref}", exc) from None

    def load(
        self,
        chunks: Iterable[bytes],
        *,
        total: int | None = None,
        item: str = "bundle",
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        on_loaded: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Stream an archive into `docker load`; returns what the engine says it loaded.

        The engine registers the images one by one once it has the whole archive, and says so
        as it goes: `on_loaded(name)` runs for each while the rest are still being registered.
        """
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            for chunk in chunks:
                if cancel is not None:
                    cancel.check("Loading the bundle into Docker")
                sent += len(chunk)
                progress(Progress(STAGE_LOAD, item, sent, total))
                yield chunk

        loaded: list[str] = []
        try:
            for event in self.client.api.load_image(body()):
                if "error" in event:
                    raise EngineError(
                        "Docker load",
                        str(event["error"]),
                        "Run `airgap-tui verify` on the bundle; re-copy bad parts",
                    )
                stream = str(event.get("stream", "")).strip()
                for prefix in ("Loaded image:", "Loaded image ID:"):
                    if stream.startswith(prefix):
                        loaded.append(stream[len(prefix) :].strip())
                        if on_loaded is not None:
                            on_loaded(loaded[-1])
        except docker.errors.APIError as exc:
            raise self._error("load the bundle", exc) from None
        except requests.RequestException as exc:
            raise self._error("load the bundle", exc) from None
        progress(Progress(STAGE_LOAD, item, sent, total, "loaded", final=True))
        return loaded

    def push(
        self,
        target: str,
        *,
        credentials: Credentials | None = None,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> str:
        """Push `target`; returns the manifest digest the registry stored."""
        ref = _parse_target(target)
        repo = f"{ref.registry}/{ref.repository}"
        layers = _LayerProgress()
        digest = ""
        try:
            stream = self.client.api.push(
                repo, tag=ref.tag, stream=True, decode=True, auth_config=_auth(credentials)
            )
            for event in stream:
                if cancel is not None and cancel.cancelled:
                    _close(stream)
                    cancel.check(f"Pushing {target}")
                if "error" in event:
                    raise _push_pull_error("push", target, str(event["error"]))
                aux = event.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                layers.update(event)
                progress(
                    Progress(
                        STAGE_PUSH,
                        target,
                        layers.done,
                        layers.size or None,
                        str(event.get("status", "")),
                    )
                )
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise _push_pull_error("push", target, _short(exc)) from None
        progress(
            Progress(STAGE_PUSH, target, layers.done, layers.size or None, "pushed", final=True)
        )
        return digest

    # --- helpers ------------------------------------------------------------------------
    def _call(self, doing: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._error(doing, exc) from None

    def _error(self, doing: str, exc: BaseException) -> EngineError:
        return EngineError(
            f"Docker engine at {self.docker_host}",
            f"could not {doing} ({_short(exc)})",
            "Check that the engine is running (docker info) and try again",
        )


def registry_is_insecure(host: str, config: dict[str, Any]) -> bool:
    """Docker's rule: an IndexConfigs entry decides; else an address in InsecureRegistryCIDRs."""
    entry = (config.get("IndexConfigs") or {}).get(host)
    if isinstance(entry, dict):
        return not entry.get("Secure", True)
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(name, None)
        except OSError:
            return False
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for cidr in config.get("InsecureRegistryCIDRs") or []:
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            continue
        if any(address in network for address in addresses):
            return True
    return False


def _unreachable_cause(exc: BaseException) -> str:
    """Say in plain words why the socket did not answer; the raw text only when unsure."""
    text = str(exc)
    if "No such file or directory" in text:
        return "its socket does not exist"
    if "Connection refused" in text:
        return "nothing is listening there"
    if "Permission denied" in text:
        return "permission denied on its socket (join the docker group or run as root)"
    return _short(exc)


def _parse_target(target: str) -> ImageRef:
    from airgap_tui.registry.reference import parse_reference

    return parse_reference(target)


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        close()


def _short(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        text = str(exc.explanation or exc)
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text[:300]


def _push_pull_error(action: str, image: str, message: str) -> Exception:
    """Turn the engine's registry error text into a typed error with a next step."""
    lower = message.lower()
    host = image.split("/", 1)[0]
    if "unauthorized" in lower or "authentication required" in lower or "denied" in lower:
        return AuthError(
            f"Registry {host}",
            f"refused to {action} {image}: {message}",
            f"Log in first (docker login {host}) or pass --username and --password-stdin",
            registry=host,
        )
    if "x509" in lower or "certificate" in lower:
        # Not transient: TLSError is not retried, and the step names the engine's CA file.
        return TLSError(
            f"Registry {host}",
            f"refused TLS while trying to {action} {image}: {message}",
            f"Add the registry's CA to /etc/docker/certs.d/{host}/ca.crt on this host",
        )
    if "not found" in lower or "manifest unknown" in lower:
        return NotFoundError(
            f"Image {image}",
            f"the registry does not have it ({message})",
            "Check the name and tag (airgap-tui catalog lists them)",
        )
    return RegistryError(
        f"Registry {host}",
        f"could not {action} {image}: {message}",
        "Check that the registry is up and reachable, then run the command again",
    )
