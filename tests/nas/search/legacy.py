"""The flat trial attributes `nas search` wrote before TrialRecord (a frozen copy of that writer), so tests can
make studies as older versions stored them and check that today's readers still load them."""

from __future__ import annotations

from typing import Any

from latency_models.estimate import LatencyEstimate
from search_space.cost import cost
from search_space.spec import ArchSpec

STATUS_REJECTED = "rejected: predicted latency over budget"


def legacy_attrs(spec: ArchSpec, est: LatencyEstimate, budget_ms: float) -> dict[str, Any]:
    """What a trial stored about its architecture and latency (before the status and the evaluation)."""
    c = cost(spec)
    return {
        "arch_id": spec.arch_id, "spec": spec.to_json(), "flops_m": round(c.flops_m, 4),
        "params_m": round(c.params_m, 5), "mac_m": round(c.mac_m, 4), "fragments": c.fragments,
        "latency_ms": est.latency_ms, "latency_kind": est.kind, "latency_platform": est.platform,
        "latency_runtime": est.runtime, "latency_batch": est.batch, "latency_resolution": est.resolution,
        "latency_source": est.source, "predictor": est.predictor, "predictor_error_rmspe": est.error_rmspe,
        "extrapolates": est.extrapolates, "budget_ms": budget_ms,
    }
