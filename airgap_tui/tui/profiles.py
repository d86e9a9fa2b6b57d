"""Saved selections ("profiles") so next month's bundle is one keypress away.

A profile is a small YAML file under the user's config dir holding the GitLab major, the
analyzers with their tags, any custom images and whether the tool goes along. Never
credentials, never paths of a drive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airgap_tui.bundle.atomic import atomic_write_bytes
from airgap_tui.errors import UsageError

PROFILE_VERSION = 1
MAX_PROFILE_BYTES = 256 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class Profile:
    name: str
    gitlab_major: int
    analyzers: dict[str, str] = field(default_factory=dict)  # name -> tag
    custom_images: list[str] = field(default_factory=list)
    source_prefix: str = ""
    platform: str = ""
    fips: bool = False  # a FIPS instance (the -fips variants)
    tool: bool = True  # carry airgap-tui.pyz with the bundle


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"Profile name {name!r}",
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            "Pick a short name such as gitlab18-sast",
        )
    return name


def save_profile(directory: Path, profile: Profile) -> Path:
    check_name(profile.name)
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "version": PROFILE_VERSION,
        "gitlab_major": profile.gitlab_major,
        "analyzers": dict(profile.analyzers),
        "custom_images": list(profile.custom_images),
    }
    if profile.source_prefix:
        data["source_prefix"] = profile.source_prefix
    if profile.platform:
        data["platform"] = profile.platform
    if profile.fips:
        data["fips"] = True
    if not profile.tool:
        data["tool"] = False
    text = "# airgap-tui profile (a selection of images; no credentials)\n" + yaml.safe_dump(
        data, sort_keys=False
    )
    path = directory / f"{profile.name}.yaml"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def list_profiles(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(
        p.stem for p in directory.glob("*.yaml") if p.is_file() and _NAME.fullmatch(p.stem)
    )


def load_profile(directory: Path, name: str) -> Profile:
    path = directory / f"{check_name(name)}.yaml"
    broken = UsageError(
        f"Profile {path}", "it is not a profile this version can read", "Save the profile again"
    )
    try:
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise broken
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"Profile {path}", f"it cannot be read ({exc.strerror})", "Check the file"
        ) from None
    except yaml.YAMLError:
        raise broken from None
    if not isinstance(data, dict) or data.get("version") != PROFILE_VERSION:
        raise broken
    major = data.get("gitlab_major")
    analyzers = data.get("analyzers") or {}
    custom = data.get("custom_images") or []
    if (
        not isinstance(major, int)
        or not isinstance(analyzers, dict)
        or not all(isinstance(k, str) and isinstance(v, str | int) for k, v in analyzers.items())
        or not isinstance(custom, list)
        or not all(isinstance(c, str) for c in custom)
        or not isinstance(data.get("fips", False), bool)
        or not isinstance(data.get("tool", True), bool)
    ):
        raise broken
    return Profile(
        name=name,
        gitlab_major=major,
        analyzers={k: str(v) for k, v in analyzers.items()},
        custom_images=list(custom),
        source_prefix=str(data.get("source_prefix") or ""),
        platform=str(data.get("platform") or ""),
        fips=bool(data.get("fips", False)),
        tool=bool(data.get("tool", True)),
    )
