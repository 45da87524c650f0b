"""A load client for the torture tests: keep-alive connections in a thread of their own, each
recording which worker pid served every response, and a /metrics sampler."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Record:
    client: int
    started: float
    ended: float
    pid: int | None  # who answered; None on an error
    status: int | None
    error: str | None
    previous_pid: int | None  # who answered this client's previous request (its connection's worker)


@dataclass
class Load:
    """`connections` keep-alive clients looping on `path` until `stop()`."""

    base: str
    path: str = "/pid"
    connections: int = 32
    pause: float = 0.005
    metrics_every: float | None = None  # sample /metrics this often (seconds)
    records: list[Record] = field(default_factory=list)
    scrapes: list[tuple[float, dict[str, float] | str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    async def _run(self) -> None:
        tasks = [self._client(i) for i in range(self.connections)]
        if self.metrics_every:
            tasks.append(self._sampler(self.metrics_every))
        await asyncio.gather(*tasks)

    async def _client(self, index: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=self.base, limits=limits, timeout=10) as client:
            previous: int | None = None
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = await client.get(self.path)
                    pid = response.json()["data"]["pid"] if response.status_code == 200 else None
                    self.records.append(Record(index, started, time.monotonic(), pid, response.status_code,
                                               None, previous))
                    previous = pid
                except (httpx.HTTPError, ValueError) as exc:
                    self.records.append(Record(index, started, time.monotonic(), None, None, repr(exc),
                                               previous))
                    previous = None
                    await asyncio.sleep(0.02)
                await asyncio.sleep(self.pause)

    async def _sampler(self, every: float) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    text = (await client.get("/metrics")).text
                    self.scrapes.append((time.monotonic(), counters(text)))
                except httpx.HTTPError as exc:
                    self.scrapes.append((time.monotonic(), repr(exc)))
                await asyncio.sleep(every)


def counters(text: str) -> dict[str, float]:
    """Every sample of the counter and histogram families summed over the cluster (not per worker)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram"):
            continue
        for sample in family.samples:
            if "worker" in sample.labels or sample.name.endswith("_created"):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def went_down(scrapes: list[tuple[float, dict[str, float] | str]]) -> list[str]:
    """Every counter sample that was lower (or missing) in a later scrape than in an earlier one."""
    seen: dict[str, float] = {}
    problems: list[str] = []
    for at, sample in scrapes:
        if isinstance(sample, str):
            continue
        for key, value in seen.items():
            now = sample.get(key)
            if now is None or now < value:
                problems.append(f"{at:.3f}: {key} {value} -> {now}")
        seen.update(sample)
    return problems
