"""The Docker route (push_schedule.py): which pushes go side by side; images wait only for the
first carrier of a shared layer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from airgap_tui.errors import Cancelled, EngineError
from airgap_tui.events import CancelToken
from airgap_tui.importer import docker_plan, push_schedule
from airgap_tui.importer.docker_plan import DockerImage as BundleImage
from airgap_tui.importer.outcome import ImageResult
from airgap_tui.importer.push_schedule import push_after, push_as_ready

GUARD = 30  # seconds: only a failing test ever waits this long


def image(name: str, *layers: str) -> BundleImage:
    return BundleImage(
        name=name,
        tag="1",
        source_ref=f"example.test/{name}:1",
        source_digest=f"sha256:m-{name}",
        image_id=f"sha256:{name}",
        diff_ids=[f"sha256:{layer}" for layer in layers],
        layers=[f"sha256:gz-{layer}" for layer in layers],
    )


def test_an_image_waits_for_the_first_carrier_of_each_shared_layer() -> None:
    images = [
        image("semgrep", "base", "semgrep"),
        image("gemnasium", "base", "gem"),
        image("gemnasium-maven", "base", "gem", "maven"),
        image("kics", "alpine", "kics"),
        image("gemnasium-python", "base", "gem", "python"),
    ]
    assert push_after(images) == [set(), {0}, {0, 1}, set(), {0, 1}]


class Pushes:
    """A fake push the test holds and releases, recording what ran at the same time."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.started: list[str] = []
        self.running: set[str] = set()
        self.most_at_once = 0
        self.release: dict[str, threading.Event] = {}
        self.outcome: dict[str, ImageResult | BaseException] = {}

    def __call__(self, img: BundleImage) -> ImageResult:
        with self.cond:
            self.started.append(img.name)
            self.running.add(img.name)
            self.most_at_once = max(self.most_at_once, len(self.running))
            gate = self.release.setdefault(img.name, threading.Event())
            self.cond.notify_all()
        assert gate.wait(GUARD), f"{img.name} was never released"
        with self.cond:
            self.running.discard(img.name)
        outcome = self.outcome.get(img.name)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome or ImageResult(img.name, img.tag, f"r/{img.name}:1", True, "pushed")

    def wait_started(self, *names: str) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: set(names) <= set(self.started), GUARD), (
                f"waited for {names}, started {self.started}"
            )

    def finish(self, name: str) -> None:
        with self.cond:
            self.release.setdefault(name, threading.Event()).set()


class Run:
    """push_as_ready in a thread, with the load state the importer would share with it."""

    def __init__(self, images: list[BundleImage], present: set[int], loaded: bool) -> None:
        self.pushes = Pushes()
        self.state = threading.Condition()
        self.present = present
        self.finished: list[BaseException | None] = [None] if loaded else []
        self.result: list[ImageResult] = []
        self.cancel = CancelToken()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(images,))
        self.thread.start()

    def _run(self, images: list[BundleImage]) -> None:
        try:
            push_as_ready(
                images,
                self.pushes,
                self.state,
                self.present,
                self.finished,
                self.result,
                self.cancel,
            )
        except BaseException as exc:
            self.error = exc

    def loaded(self, *indexes: int, error: BaseException | None = None, done: bool = False) -> None:
        with self.state:
            self.present.update(indexes)
            if done or error:
                self.finished.append(error)
            self.state.notify_all()

    def join(self) -> None:
        self.thread.join(GUARD)
        assert not self.thread.is_alive()


@pytest.fixture
def release_all() -> Iterator[list[Run]]:
    runs: list[Run] = []
    yield runs
    for run in runs:  # a failed assertion must not leave threads waiting forever
        for gate in run.pushes.release.values():
            gate.set()
        run.loaded(done=True)


def test_images_without_shared_layers_go_side_by_side(release_all: list[Run]) -> None:
    images = [image("a", "base", "a"), image("b", "base", "b"), image("k", "alpine", "k")]
    run = Run(images, {0, 1, 2}, loaded=True)
    release_all.append(run)
    run.pushes.wait_started("a", "k")  # k shares nothing with a: it does not wait
    assert "b" not in run.pushes.started  # b waits for a, which carries the base layer
    run.pushes.finish("a")
    run.pushes.wait_started("b")
    run.pushes.finish("b")
    run.pushes.finish("k")
    run.join()
    assert run.error is None
    assert sorted(r.name for r in run.result) == ["a", "b", "k"]


def test_at_most_pushes_at_once_run_together(release_all: list[Run]) -> None:
    images = [image(f"i{n}", f"layer{n}") for n in range(6)]
    run = Run(images, set(range(6)), loaded=True)
    release_all.append(run)
    limit = push_schedule.PUSHES_AT_ONCE
    run.pushes.wait_started(*[f"i{n}" for n in range(limit)])
    assert len(run.pushes.started) == limit
    for n in range(6):
        run.pushes.finish(f"i{n}")
    run.join()
    assert run.error is None and run.pushes.most_at_once == limit
    assert len(run.result) == 6


def test_a_push_starts_only_once_its_image_is_loaded(release_all: list[Run]) -> None:
    images = [image("a", "a"), image("b", "b")]
    run = Run(images, set(), loaded=False)
    release_all.append(run)
    run.loaded(1)
    run.pushes.wait_started("b")
    assert run.pushes.started == ["b"]
    run.loaded(0, done=True)
    run.pushes.wait_started("a")
    run.pushes.finish("a")
    run.pushes.finish("b")
    run.join()
    assert run.error is None


def test_a_failed_load_stops_the_pushes_not_started_and_is_raised(
    release_all: list[Run],
) -> None:
    images = [image("a", "a"), image("b", "b")]
    run = Run(images, set(), loaded=False)
    release_all.append(run)
    run.loaded(0)
    run.pushes.wait_started("a")
    failure = EngineError("Docker load", "the archive ended early", "Verify the bundle")
    run.loaded(error=failure)
    run.pushes.finish("a")
    run.join()
    assert run.error is failure
    assert run.pushes.started == ["a"]
    assert run.cancel.cancelled  # the push that was running is told to stop


def test_a_failed_push_is_a_result_but_a_cancel_stops_everything(
    release_all: list[Run],
) -> None:
    images = [image("a", "base", "a"), image("b", "base", "b"), image("c", "c")]
    run = Run(images, {0, 1, 2}, loaded=True)
    release_all.append(run)
    run.pushes.outcome["a"] = ImageResult("a", "1", "r/a:1", False, "failed", error="denied")
    run.pushes.outcome["c"] = Cancelled("Pushing r/c:1", "cancelled by the operator", "Re-run")
    run.pushes.wait_started("a", "c")
    run.pushes.finish("c")
    assert run.cancel.wait(GUARD)  # the scheduler stopped and told the running pushes
    run.pushes.finish("a")
    run.join()
    assert isinstance(run.error, Cancelled)
    assert "b" not in run.pushes.started
    assert [(r.name, r.ok) for r in run.result] == [("a", False)]


def test_a_loaded_image_is_found_by_the_name_docker_load_prints() -> None:
    gitlab = replace(
        image("semgrep", "base"),
        source_ref="registry.gitlab.com/security-products/semgrep:6@sha256:" + "1" * 64,
    )
    hub = replace(image("alpine", "alpine"), source_ref="docker.io/library/alpine:3.20")
    names = docker_plan.load_names([gitlab, hub])
    assert names["registry.gitlab.com/security-products/semgrep:6"] == [0]
    assert names["alpine:3.20"] == [1]  # the engine prints Hub images in their short form
    assert names["sha256:alpine"] == [1]  # "Loaded image ID: …" for untagged archives
