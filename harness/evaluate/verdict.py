"""The verdict policy: did tuning make the model better, across the accuracy family, luck accounted for?"""

from __future__ import annotations

from harness import metrics as registry
from harness.results import Comparison, Verdict


def verdict(metrics: dict[str, Comparison], confidence: float) -> Verdict:
    """Three-way, after Holm over the accuracy family, anchored on the headline metric: "better"
    needs the headline itself to improve significantly with no member significantly worse (a higher
    parse rate while execution accuracy stays put is not a better model); "worse" when the headline
    is significantly worse, or when it did not move and members only got worse; else inconclusive."""
    family = [key for key in registry.accuracy_family(metrics) if metrics[key].adjusted]
    moved = {key: metrics[key] for key in family if metrics[key].adjusted.significant}
    better = [key for key, c in moved.items() if (c.diff > 0) == (registry.METRICS[key].better == registry.Better.HIGHER)]
    worse = [key for key in moved if key not in better]
    headline = registry.headline(family)
    if headline in better:
        outcome = "inconclusive" if worse else "better"
    elif headline in worse or (worse and not better):
        outcome = "worse"
    else:
        outcome = "inconclusive"
    return Verdict(outcome=outcome, headline=headline, family=family, better=better, worse=worse, confidence=confidence)
