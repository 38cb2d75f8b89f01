"""Counting what jobsim does, for Prometheus (jobsim.api.metrics serves it at /metrics).

Where a count lands depends on who records it:

- A worker binds its own `Accumulator` (plain dicts under a lock) while it runs
  (`recording_into`); everything done in its thread — claims, task outcomes, embedding calls,
  provider requests, the tasks its maintenance enqueues — lands there, and the worker writes
  `snapshot()` into its row (`workers.metrics`) at every heartbeat. `/metrics` serves every
  row (one series per worker), so every worker process counts, whichever API process is
  scraped.
- Anything else (the API: similar-list requests, the tasks its writes enqueue) lands in this
  process's prometheus_client metrics (`ProcessRecorder`). With `PROMETHEUS_MULTIPROC_DIR` set
  they live in that directory's files, and `/metrics` sums every API process on the host.

The metrics themselves are the `CounterSpec` and `HistogramSpec` constants below.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram as PromHistogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

SNAPSHOT_VERSION = 1
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
QUICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class CounterSpec:
    name: str  # the family name; the exposition adds "_total"
    doc: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    doc: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = QUICK_BUCKETS


Spec = CounterSpec | HistogramSpec

TASKS_ENQUEUED = CounterSpec(
    "jobsim_tasks_enqueued", "Tasks enqueued (a coalesced enqueue counts too)", ("kind",)
)
TASKS_CLAIMED = CounterSpec("jobsim_tasks_claimed", "Tasks claimed by workers", ("kind",))
TASKS_COMPLETED = CounterSpec(
    "jobsim_tasks_completed",
    "Tasks finished, by outcome: succeeded, or dead_lettered (state failed)",
    ("kind", "outcome"),
)
TASKS_RETRIED = CounterSpec(
    "jobsim_tasks_retried", "Failed attempts put back in the queue for a retry", ("kind",)
)
TASKS_RELEASED = CounterSpec("jobsim_tasks_released", "Tasks given back unfinished at shutdown")
EMBEDDINGS_STORED = CounterSpec("jobsim_embeddings_stored", "Vectors stored by workers")
LIST_REFRESHES = CounterSpec("jobsim_list_refreshes", "Similar lists rewritten by workers")
PROVIDER_REQUESTS = CounterSpec(
    "jobsim_provider_requests",
    "HTTP embedding provider requests, by provider and HTTP status (or timeout / connection)",
    ("provider", "status"),
)
RATE_LIMITED = CounterSpec(
    "jobsim_provider_rate_limited", "Provider requests answered 429 (rate limited)", ("provider",)
)
SIMILAR_REQUESTS = CounterSpec(
    "jobsim_similar_requests", "Similar-list requests served, by method", ("method",)
)
TASK_DURATION = HistogramSpec(
    "jobsim_task_duration_seconds",
    "From claim to the end of the task's batch, per task",
    ("kind",),
    SLOW_BUCKETS,
)
EMBEDDING_DURATION = HistogramSpec(
    "jobsim_embedding_call_duration_seconds",
    "One batch's embedding call (every view), successful or not",
    (),
    SLOW_BUCKETS,
)
SIMILAR_LATENCY = HistogramSpec(
    "jobsim_similar_request_duration_seconds",
    "Time to answer a similar-list request, by method",
    ("method",),
)

COUNTERS: dict[str, CounterSpec] = {
    spec.name: spec
    for spec in (
        TASKS_ENQUEUED,
        TASKS_CLAIMED,
        TASKS_COMPLETED,
        TASKS_RETRIED,
        TASKS_RELEASED,
        EMBEDDINGS_STORED,
        LIST_REFRESHES,
        PROVIDER_REQUESTS,
        RATE_LIMITED,
        SIMILAR_REQUESTS,
    )
}
HISTOGRAMS: dict[str, HistogramSpec] = {
    spec.name: spec for spec in (TASK_DURATION, EMBEDDING_DURATION, SIMILAR_LATENCY)
}


class Recorder(Protocol):
    def inc(self, spec: CounterSpec, amount: float, labels: Mapping[str, str]) -> None: ...

    def observe(self, spec: HistogramSpec, value: float, labels: Mapping[str, str]) -> None: ...


def _label_values(spec: Spec, labels: Mapping[str, str]) -> tuple[str, ...]:
    if set(labels) != set(spec.labels):
        raise ValueError(f"{spec.name} takes labels {spec.labels}, got {sorted(labels)}")
    return tuple(str(labels[name]) for name in spec.labels)


# --- a worker's counters: plain dicts, written to its row ---------------------------------


@dataclass
class _Series:
    """One histogram series: a count per bucket (the last one is +Inf) and the sum."""

    counts: list[float]
    total: float = 0.0

    def observe(self, value: float, bounds: tuple[float, ...]) -> None:
        index = next((i for i, bound in enumerate(bounds) if value <= bound), len(bounds))
        self.counts[index] += 1
        self.total += value


class Accumulator:
    """Counters and histograms of one worker, thread-safe, as a JSON snapshot and back."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[tuple[str, ...], float]] = {}
        self._histograms: dict[str, dict[tuple[str, ...], _Series]] = {}
        self._lock = threading.Lock()

    def inc(self, spec: CounterSpec, amount: float, labels: Mapping[str, str]) -> None:
        key = _label_values(spec, labels)
        with self._lock:
            series = self._counters.setdefault(spec.name, {})
            series[key] = series.get(key, 0.0) + amount

    def observe(self, spec: HistogramSpec, value: float, labels: Mapping[str, str]) -> None:
        key = _label_values(spec, labels)
        with self._lock:
            by_labels = self._histograms.setdefault(spec.name, {})
            series = by_labels.setdefault(key, _Series([0.0] * (len(spec.buckets) + 1)))
            series.observe(value, spec.buckets)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: {"version", "counters": {name: [[labels, value]]},
        "histograms": {name: {"buckets": bounds, "series": [[labels, counts, sum]]}}}."""
        with self._lock:
            counters = {
                name: [[list(key), value] for key, value in series.items()]
                for name, series in self._counters.items()
            }
            histograms = {
                name: {
                    "buckets": list(HISTOGRAMS[name].buckets),
                    "series": [[list(k), list(s.counts), s.total] for k, s in series.items()],
                }
                for name, series in self._histograms.items()
            }
        return {"version": SNAPSHOT_VERSION, "counters": counters, "histograms": histograms}

    def add_snapshot(self, snapshot: object) -> None:
        """Add another process's snapshot; what this version does not know is skipped."""
        if not isinstance(snapshot, dict) or snapshot.get("version") != SNAPSHOT_VERSION:
            return
        with self._lock:
            self._add_counters(snapshot.get("counters"))
            self._add_histograms(snapshot.get("histograms"))

    def _add_counters(self, counters: object) -> None:
        for name, rows in _known(counters, COUNTERS):
            series = self._counters.setdefault(name, {})
            for key, value in _rows(rows, len(COUNTERS[name].labels), 2):
                if _number(value):
                    series[key] = series.get(key, 0.0) + float(value)

    def _add_histograms(self, histograms: object) -> None:
        for name, body in _known(histograms, HISTOGRAMS):
            spec = HISTOGRAMS[name]
            if not isinstance(body, dict) or body.get("buckets") != list(spec.buckets):
                continue  # bucket bounds changed between versions: not addable
            by_labels = self._histograms.setdefault(name, {})
            for key, counts, total in _rows(body.get("series"), len(spec.labels), 3):
                if not _counts(counts, len(spec.buckets) + 1) or not _number(total):
                    continue
                series = by_labels.setdefault(key, _Series([0.0] * (len(spec.buckets) + 1)))
                series.counts = [a + float(b) for a, b in zip(series.counts, counts, strict=True)]
                series.total += float(total)

    def families(self, extra: Mapping[str, str] | None = None) -> list[Metric]:
        """The Prometheus families, each series with the `extra` labels added."""
        extra = dict(extra or {})
        with self._lock:
            families: list[Metric] = [
                _counter_family(COUNTERS[name], series, extra)
                for name, series in self._counters.items()
            ]
            families += [
                _histogram_family(HISTOGRAMS[name], series, extra)
                for name, series in self._histograms.items()
            ]
        return families


def _known(section: object, specs: Mapping[str, Spec]) -> list[tuple[str, Any]]:
    """The (name, body) pairs of a snapshot section that name a metric of `specs`."""
    if not isinstance(section, dict):
        return []
    return [(name, body) for name, body in section.items() if name in specs]


def _rows(rows: object, label_count: int, width: int) -> Iterator[tuple[Any, ...]]:
    """Well-formed rows [labels, ...] of a snapshot section, labels as a tuple of strings."""
    if not isinstance(rows, list):
        return
    for row in rows:
        if not (isinstance(row, list) and len(row) == width and isinstance(row[0], list)):
            continue
        labels = row[0]
        if len(labels) == label_count and all(isinstance(v, str) for v in labels):
            yield (tuple(labels), *row[1:])


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _counts(values: object, length: int) -> bool:
    return isinstance(values, list) and len(values) == length and all(map(_number, values))


def _counter_family(
    spec: CounterSpec, series: dict[tuple[str, ...], float], extra: dict[str, str]
) -> Metric:
    family = CounterMetricFamily(spec.name, spec.doc, labels=[*spec.labels, *extra])
    for key, value in series.items():
        family.add_metric([*key, *extra.values()], value)
    return family


def _histogram_family(
    spec: HistogramSpec, series: dict[tuple[str, ...], _Series], extra: dict[str, str]
) -> Metric:
    bounds = [*(repr(float(b)) for b in spec.buckets), "+Inf"]  # as prometheus_client writes le
    family = HistogramMetricFamily(spec.name, spec.doc, labels=[*spec.labels, *extra])
    for key, one in series.items():
        cumulative, running = [], 0.0
        for bound, count in zip(bounds, one.counts, strict=True):
            running += count
            cumulative.append((bound, running))
        family.add_metric([*key, *extra.values()], cumulative, one.total)
    return family


# --- this process's counters: prometheus_client ---------------------------------------------


class ProcessRecorder:
    """Counts into prometheus_client metrics, created once per process on first use."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self._metrics: dict[str, PromCounter | PromHistogram] = {}
        self._lock = threading.Lock()

    def inc(self, spec: CounterSpec, amount: float, labels: Mapping[str, str]) -> None:
        metric = self._metric(spec)
        assert isinstance(metric, PromCounter)
        (metric.labels(*_label_values(spec, labels)) if spec.labels else metric).inc(amount)

    def observe(self, spec: HistogramSpec, value: float, labels: Mapping[str, str]) -> None:
        metric = self._metric(spec)
        assert isinstance(metric, PromHistogram)
        (metric.labels(*_label_values(spec, labels)) if spec.labels else metric).observe(value)

    def _metric(self, spec: Spec) -> PromCounter | PromHistogram:
        with self._lock:
            metric = self._metrics.get(spec.name)
            if metric is None:
                metric = self._create(spec)
                self._metrics[spec.name] = metric
            return metric

    def _create(self, spec: Spec) -> PromCounter | PromHistogram:
        if isinstance(spec, CounterSpec):
            return PromCounter(spec.name, spec.doc, spec.labels, registry=self.registry)
        return PromHistogram(
            spec.name, spec.doc, spec.labels, registry=self.registry, buckets=spec.buckets
        )


PROCESS = ProcessRecorder()


def process_families() -> Iterable[Metric]:
    """This process's metrics, or, in multiprocess mode, every process's on this host."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        # The library leaves this class unannotated.
        collector = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]
        families: Iterable[Metric] = collector.collect()  # type: ignore[no-untyped-call]
        return families
    return PROCESS.registry.collect()


# --- recording -------------------------------------------------------------------------------

_bound: ContextVar[Recorder | None] = ContextVar("jobsim_metrics_recorder", default=None)


def recorder() -> Recorder:
    """Where counts go now: the Accumulator bound in this context, else this process's."""
    return _bound.get() or PROCESS


@contextmanager
def recording_into(target: Recorder) -> Iterator[None]:
    """Send the counts recorded in this context (thread) to `target` until the block ends."""
    token = _bound.set(target)
    try:
        yield
    finally:
        _bound.reset(token)


def inc(spec: CounterSpec, amount: float = 1.0, **labels: str) -> None:
    if amount:
        recorder().inc(spec, amount, labels)


def observe(spec: HistogramSpec, value: float, **labels: str) -> None:
    recorder().observe(spec, value, labels)


@contextmanager
def timed(spec: HistogramSpec, **labels: str) -> Iterator[None]:
    """Observe how long the block took, whether it raised or not."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe(spec, time.perf_counter() - started, **labels)


# --- one exposition from several sources ----------------------------------------------------


def merge_families(*sources: Iterable[Metric]) -> list[Metric]:
    """One family per name, as the exposition format requires (the API's series of a counter
    and each worker's go under one name); samples with the same name and labels are summed.
    `_created` samples are dropped: a sum of creation times means nothing."""
    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for source in sources:
        for family in source:
            target = merged.setdefault(
                family.name, Metric(family.name, family.documentation, family.type, family.unit)
            )
            if target.type != family.type:
                continue
            samples = values.setdefault(family.name, {})
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    for name, family in merged.items():
        for (sample_name, labels), value in values.get(name, {}).items():
            family.add_sample(sample_name, dict(labels), value)
    return list(merged.values())
