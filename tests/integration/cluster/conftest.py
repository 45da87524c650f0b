from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ._cluster import Cluster


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Start clusters; each one (and every worker it started) is killed at the end of the test."""
    started: list[Cluster] = []

    def start(root: Path, **kwargs: Any) -> Cluster:
        cluster = Cluster(root, tmp_path / f"cluster-{len(started)}.log", **kwargs)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()
