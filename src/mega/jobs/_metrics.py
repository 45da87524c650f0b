"""Counters of a worker process, as Prometheus text (`mega worker --http-port`'s /metrics)."""

from __future__ import annotations

from collections import defaultdict


class JobMetrics:
    def __init__(self) -> None:
        self.outcomes: dict[tuple[str, str], int] = defaultdict(int)
        self.inflight: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.runs: dict[str, int] = defaultdict(int)

    def count(self, subject: str, outcome: str) -> None:
        self.outcomes[(subject, outcome)] += 1

    def started(self, subject: str) -> None:
        self.inflight[subject] += 1

    def ended(self, subject: str, seconds: float) -> None:
        self.inflight[subject] -= 1
        self.seconds[subject] += seconds
        self.runs[subject] += 1

    def render(self) -> str:
        lines = ["# TYPE mega_jobs_total counter"]
        lines += [
            f'mega_jobs_total{{subject="{s}",outcome="{o}"}} {n}'
            for (s, o), n in sorted(self.outcomes.items())
        ]
        lines.append("# TYPE mega_jobs_in_flight gauge")
        lines += [f'mega_jobs_in_flight{{subject="{s}"}} {n}' for s, n in sorted(self.inflight.items())]
        lines.append("# TYPE mega_job_run_seconds summary")
        for subject in sorted(self.runs):
            lines.append(f'mega_job_run_seconds_sum{{subject="{subject}"}} {self.seconds[subject]:.6f}')
            lines.append(f'mega_job_run_seconds_count{{subject="{subject}"}} {self.runs[subject]}')
        return "\n".join(lines) + "\n"
