"""greedy: each token the most likely one, nothing held, one answer per example."""

from __future__ import annotations

from harness.evaluate.decoding.mode import DecodingMode


class Greedy(DecodingMode):
    name = "greedy"
