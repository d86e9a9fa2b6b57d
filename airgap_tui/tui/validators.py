"""Input validators that reuse the domain's own parsers, so the wizard accepts exactly what
the CLI accepts and says why not in the same words."""

from __future__ import annotations

from pathlib import Path

from textual.validation import ValidationResult, Validator

from airgap_tui.errors import UsageError
from airgap_tui.registry.reference import (
    looks_like_host,
    parse_reference,
    split_prefix,
    validate_tag,
)


class RegistryPrefix(Validator):
    """host[:port][/path], as `reference.split_prefix` reads it."""

    def validate(self, value: str) -> ValidationResult:
        try:
            host, _ = split_prefix(value)
        except UsageError as exc:
            return self.failure(exc.sentence())
        if not looks_like_host(host):
            return self.failure(
                f"{host!r} does not look like a registry host: it needs a '.', a ':port' or "
                "'localhost' (e.g. registry.local:5000/analyzers)."
            )
        return self.success()


class SourcePrefix(Validator):
    """Where analyzers are pulled from: the rule `airgap-tui --source-prefix` applies."""

    def validate(self, value: str) -> ValidationResult:
        from airgap_tui.export.plan import validate_source_prefix

        try:
            validate_source_prefix(value)
        except UsageError as exc:
            return self.failure(exc.sentence())
        return self.success()


class ImageTag(Validator):
    def validate(self, value: str) -> ValidationResult:
        try:
            validate_tag(value)
        except UsageError as exc:
            return self.failure(exc.sentence())
        return self.success()


class CustomImage(Validator):
    """A full reference with a registry host and a tag (custom images are never `latest`)."""

    def validate(self, value: str) -> ValidationResult:
        text = value.strip()
        first, slash, _ = text.partition("/")
        if not slash or not looks_like_host(first):
            return self.failure(
                "A custom image needs its registry host, e.g. registry.example.com/team/tool:1.2."
            )
        if ":" not in text.rsplit("/", 1)[1]:
            return self.failure("Give the tag too, e.g. registry.example.com/team/tool:1.2.")
        try:
            parse_reference(text)
        except UsageError as exc:
            return self.failure(exc.sentence())
        return self.success()


class AbsolutePath(Validator):
    def validate(self, value: str) -> ValidationResult:
        text = value.strip()
        if not text:
            return self.failure("Type a directory path or pick one below.")
        if not Path(text).expanduser().is_absolute():
            return self.failure("Give an absolute path, e.g. /media/usb/airgap-bundle.")
        return self.success()


class OptionalFile(Validator):
    """Empty, or a path to a file (the CA certificate)."""

    def validate(self, value: str) -> ValidationResult:
        text = value.strip()
        if not text:
            return self.success()
        if not Path(text).expanduser().is_file():
            return self.failure(f"{text} is not a file.")
        return self.success()
