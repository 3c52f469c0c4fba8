"""A latency budget relative to a registered network (`--budget shufflenet_v2_x0_5`, `0.8x mobilenet_v2_x1_0`):
the network is timed once on the platform's device (this machine, or the `nas agent` measuring for the search) or,
where the platform cannot be measured, predicted by its profile; that figure becomes the budget's time frame. A
stored study resumed with the same relative budget keeps the figure it was started with (timing it again would
move the budget with the machine's speed, which is what the frame is there to avoid)."""

from __future__ import annotations

import statistics

from latency_models.measure import time_side_by_side
from latency_models.profiles import require_profile
from nas.search.budget import Budget, RelativeBudget
from nas.search.config import SearchConfig
from nas.search.measuring import LocalMeasurer, frame_spec, make_measurer

#: Interleaved rounds the frame network is timed in on this machine (their median is the frame).
FRAME_ROUNDS = 5


def frame_ms(network: str, platform: str, resolution: int, num_classes: int,
             measure_on: str | None = None) -> tuple[float, str]:
    """The frame network's latency on `platform` and its kind ("measured" or "predicted")."""
    spec = frame_spec(network, resolution, num_classes)
    measurer = make_measurer(platform, measure_on)
    if isinstance(measurer, LocalMeasurer):
        rounds = time_side_by_side([spec], measurer.platform, rounds=FRAME_ROUNDS)
        return statistics.median(r[0].latency_ms for r in rounds), "measured"
    if measurer is not None:
        est = measurer.measure(spec)
        if est is not None:
            return est.latency_ms, "measured"
    return require_profile(platform).estimate(spec).latency_ms, "predicted"


def resolve_relative(relative: RelativeBudget, platform: str, resolution: int, num_classes: int,
                     measure_on: str | None = None, stored: SearchConfig | None = None) -> tuple[Budget, str]:
    """The latency budget of `relative` and how its frame was found ("measured", "predicted", or "stored": the
    study being resumed had fixed it)."""
    if stored is not None and stored.budget.relative() == relative:
        return stored.budget, "stored"
    ms, kind = frame_ms(relative.network, platform, resolution, num_classes, measure_on)
    return relative.resolved(ms), kind


def stored_search_config(storage: str | None, study_name: str) -> SearchConfig | None:
    """The search config of study `study_name` in `storage` (opened read-only), or None when there is no such
    storage or study yet."""
    from nas.search.storage import open_read_only
    from nas.search.study import StorageError, open_study, stored_config, study_names

    try:
        store = open_read_only(storage)
    except StorageError:
        return None
    if study_name not in study_names(store):
        return None
    return stored_config(open_study(store, study_name))
