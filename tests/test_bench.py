"""The one percentile both benchmarks report with."""

from __future__ import annotations

import math

from retriever.bench import percentile


def test_percentile_interpolates_between_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]  # unsorted on purpose
    assert percentile(values, 0.5) == 10.0 + (40.0 - 10.0) * 0.5  # (20 + 30) / 2
    # position (n - 1) * q = 2.85: between 30 and 40
    assert percentile(values, 0.95) == 30.0 + (40.0 - 30.0) * 0.85
    assert percentile(values, 1.0) == 40.0
    assert percentile([7.0], 0.95) == 7.0
    assert math.isnan(percentile([], 0.5))
