"""Agent measurements as timings-file rows and metadata, so `nas latency fit` reads them like any other.

`timing_rows(result, spec)` gives the network's row (role "sample" or "reference") and the reference network's
row (role "drift_ref", taken beside it), both stamped with the device's clock; `timings_meta(device, platform)`
is the metadata of a file of such rows: the agent's platform and the device's host, CPU, GPU and versions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from latency_models.agent.protocol import AgentTiming, DeviceInfo
from latency_models.platform import Platform
from latency_models.timings import TimingRow, TimingsMeta, network_row
from search_space.spec import ArchSpec, BaselineSpec, spec_from_json

NetSpec = ArchSpec | BaselineSpec


def network_timing_row(result: AgentTiming, spec: NetSpec, role: str = "sample", round: int = 1) -> TimingRow:
    """The row of the measured network (`spec` is what was sent; its arch_id must match the result's)."""
    if spec.arch_id != result.arch_id:
        raise ValueError(f"the result is of {result.arch_id}, not of {spec.arch_id}")
    return replace(network_row(spec, result.timing(), result.batch, round, role), measured_at=result.measured_at)


def reference_timing_row(result: AgentTiming, round: int = 1) -> TimingRow:
    """The row of the reference network timed beside the measurement (role "drift_ref")."""
    ref = result.reference
    spec = spec_from_json(ref.spec_json)
    return replace(network_row(spec, ref.timing(), result.batch, round, "drift_ref"), measured_at=ref.measured_at)


def timing_rows(result: AgentTiming, spec: NetSpec, role: str = "sample", round: int = 1) -> list[TimingRow]:
    """[network row, reference row] of one agent measurement."""
    return [network_timing_row(result, spec, role, round), reference_timing_row(result, round)]


def timings_meta(device: DeviceInfo, platform: Platform | None = None, **settings: Any) -> TimingsMeta:
    """Metadata of timings measured through an agent: `platform` (default the agent's own) and the device's
    host, OS, CPU/GPU model, library versions and system info; `settings` says how (agent URL, protocol)."""
    how = {"agent_warmup": device.warmup, "agent_repeats": device.repeats, "reference": device.reference,
           "reference_ttl_s": device.reference_ttl_s, **settings}
    return TimingsMeta(platform=platform or device.platform, hostname=device.hostname, os=device.os,
                       cpu_model=device.cpu_model, gpu_model=device.gpu_model, versions=dict(device.versions),
                       system=dict(device.system), settings=how)
