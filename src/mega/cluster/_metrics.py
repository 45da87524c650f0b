"""`/metrics` for a whole cluster: each worker's families as plain data, summed by the primary.

Counters and histograms are summed over the workers; the last numbers of a worker that exited stay
in the sum (`retire`), so a counter never goes backwards across a restart. Gauges and the process
series (memory, CPU, GC, loop lag) are per process: they carry a `worker` label, and a dead worker's
are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest

__all__ = ["Family", "Totals", "families_of", "render"]

Family = dict[str, Any]  # {"n": name, "t": type, "d": help, "s": [[sample name, labels, value], ...]}
_SUMMED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
_PER_PROCESS = ("process_", "python_", "mega_process_", "mega_python_", "mega_event_loop_")
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def families_of(registry: CollectorRegistry) -> list[Family]:
    """This process's families, as the control channel carries them."""
    out: list[Family] = []
    for metric in registry.collect():
        samples = [[s.name, s.labels, s.value] for s in metric.samples]
        out.append({"n": metric.name, "t": metric.type, "d": metric.documentation, "s": samples})
    return out


def _summed(family: Family) -> bool:
    return family["t"] in _SUMMED and not family["n"].startswith(_PER_PROCESS)


class Totals:
    """Summed families, in first-seen order: {name: (type, help, {(sample, labels): value})}."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, dict[SampleKey, float]]] = {}

    def _samples(self, family: Family) -> dict[SampleKey, float]:
        entry = self.families.get(family["n"])
        if entry is None:
            entry = self.families[family["n"]] = (family["t"], family["d"], {})
        return entry[2]

    def add(self, families: Iterable[Family], *, worker: str | None = None) -> None:
        """Add a worker's summed families; with `worker`, also its per-process ones, labelled."""
        for family in families:
            if _summed(family):
                samples = self._samples(family)
                for name, labels, value in family["s"]:
                    key = (name, tuple(sorted(labels.items())))
                    samples[key] = samples.get(key, 0.0) + value
            elif worker is not None:
                samples = self._samples(family)
                for name, labels, value in family["s"]:
                    samples[(name, (*sorted(labels.items()), ("worker", worker)))] = value

    def merged(self, other: Totals) -> Totals:
        out = Totals()
        for source in (self, other):
            for name, (typ, doc, samples) in source.families.items():
                mine = out._samples({"n": name, "t": typ, "d": doc})
                for key, value in samples.items():
                    mine[key] = mine.get(key, 0.0) + value
        return out

    def metrics(self) -> Iterator[Metric]:
        for name, (typ, doc, samples) in self.families.items():
            metric = Metric(name, doc, typ)
            for (sample, labels), value in samples.items():
                metric.add_sample(sample, dict(labels), value)
            yield metric


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> list[Metric]:
        return self._metrics


def render(metrics: list[Metric]) -> bytes:
    """The Prometheus text format of ready-made families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    return generate_latest(registry)
