"""A scalable set of fake analyzer images that share base layers the way real ones do.

Seven catalog analyzers over one OS base, with a Python runtime, a Java runtime and a gemnasium
core shared between some of them, and one layer of their own each. `analyzer_set(total)` scales
every layer so the distinct content adds up to about `total` bytes; a layer's bytes are a pure
function of its name and size (see images.layer_bytes), so a set is rebuilt identically.
Used by benchmarks/run.py; sizes are what `docker save` writes per layer (plus tar headers).
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.harness.images import FakeImage, FakeLayer

# Relative weights of the distinct layers (they sum to 1000).
_WEIGHTS = {
    "base-os": 175,
    "python-runtime": 105,
    "java-runtime": 175,
    "gemnasium-core": 70,
    "semgrep-app": 105,
    "spotbugs-app": 85,
    "secrets-app": 45,
    "gemnasium-app": 50,
    "gemnasium-maven-app": 50,
    "gemnasium-python-app": 50,
    "kics-app": 90,
}

# (catalog path, tag, layer names bottom-up, created) — catalog tags for GitLab 18.
_IMAGES = (
    ("semgrep", "6", ("base-os", "python-runtime", "semgrep-app"), "2024-03-01T10:00:00Z"),
    ("spotbugs", "5", ("base-os", "java-runtime", "spotbugs-app"), "2024-02-20T10:00:00Z"),
    ("secrets", "7", ("base-os", "secrets-app"), "2024-02-10T10:00:00Z"),
    ("gemnasium", "6", ("base-os", "gemnasium-core", "gemnasium-app"), "2024-02-01T10:00:00Z"),
    (
        "gemnasium-maven",
        "6",
        ("base-os", "java-runtime", "gemnasium-core", "gemnasium-maven-app"),
        "2024-01-20T10:00:00Z",
    ),
    (
        "gemnasium-python",
        "6",
        ("base-os", "python-runtime", "gemnasium-core", "gemnasium-python-app"),
        "2024-01-10T10:00:00Z",
    ),
    ("kics", "6", ("base-os", "python-runtime", "kics-app"), "2024-01-01T10:00:00Z"),
)


def analyzer_set(total_bytes: int, *, label: str = "bench") -> tuple[FakeImage, ...]:
    """Seven images whose distinct layer content adds up to about `total_bytes`.

    `label` goes into every layer name, so two sets with different labels share no bytes.
    """
    if total_bytes < len(_WEIGHTS) * 1024:
        raise ValueError(f"total_bytes={total_bytes} is too small for {len(_WEIGHTS)} layers")
    layers = {
        name: FakeLayer(f"{label}-{name}", max(total_bytes * weight // 1000, 1024))
        for name, weight in _WEIGHTS.items()
    }
    return tuple(
        FakeImage(f"{path}:{tag}", [layers[n] for n in names], created=created)
        for path, tag, names, created in _IMAGES
    )


def specs(images: Iterable[FakeImage]) -> list[str]:
    """The `name:tag` arguments airgap-tui takes for these images (catalog names)."""
    return [f"{image.name}:{image.tag}" for image in images]


def distinct_bytes(images: Iterable[FakeImage]) -> int:
    """Layer content stored once however many images use it (what one shared archive holds)."""
    return sum(layer.size for layer in {layer for image in images for layer in image.layers})


def per_image_bytes(images: Iterable[FakeImage]) -> int:
    """Layer content summed image by image (what one archive per image holds)."""
    return sum(layer.size for image in images for layer in image.layers)
