"""`nas agent`: serve this device's timings to a search on another machine (token-authenticated HTTP)."""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from latency_models.agent.protocol import (DEFAULT_PORT, MAX_JSON_BYTES, MAX_ONNX_BYTES, MAX_SECONDS, REFERENCE_NAME,
                                           REFERENCE_TTL_S, SOCKET_TIMEOUT_S, TOKEN_ENV, AgentLimits, DeviceInfo)
from latency_models.measure import resolve_platform
from search_space.errors import UserError
from search_space.references import NETWORKS


def agent(
    token: Optional[str] = typer.Option(None, "--token", help=f"Shared secret, at least 16 characters; default "
                                        f"${TOKEN_ENV} (better: other users can read a command line)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default loopback only; "
                             "0.0.0.0 for every interface)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="TCP port (0: any free one)."),
    platform: str = typer.Option("cpu", "--platform", "-p", help="Built-in platform to measure with "
                                 "(cpu, cpu-torch, gpu)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Override the platform's thread count."),
    batch: Optional[int] = typer.Option(None, "--batch", min=1, help="Override the platform's batch size."),
    warmup: Optional[int] = typer.Option(None, "--warmup", min=0, help="Untimed runs before timing."),
    repeats: Optional[int] = typer.Option(None, "--repeats", min=1, help="Timed runs per measurement."),
    max_seconds: float = typer.Option(MAX_SECONDS, "--max-seconds", min=0.1, help="A measurement running "
                                      "longer is stopped (answered 504)."),
    max_onnx_mib: float = typer.Option(MAX_ONNX_BYTES / 2**20, "--max-onnx-mib", min=0.01,
                                       help="Largest ONNX file accepted (MiB; larger: 413)."),
    reference: str = typer.Option(REFERENCE_NAME, "--reference", help="Reference network timed beside the "
                                  "measurements at their resolution (drift)."),
    reference_every: float = typer.Option(REFERENCE_TTL_S, "--reference-every", min=0.0,
                                          help="Seconds a reference timing is reused before it is re-timed."),
) -> None:
    """Serve measurements of this device over HTTP until Ctrl-C / SIGTERM (`nas measure --agent URL`)."""
    from latency_models.agent.protocol import check_token
    from latency_models.agent.server import AgentConfig, is_loopback, serve

    secret = check_token(token if token is not None else os.environ.get(TOKEN_ENV))
    if reference not in NETWORKS:
        raise UserError(f"unknown reference network {reference!r} (see `nas arch list`)")
    plat = resolve_platform(platform)
    overrides = {k: v for k, v in (("threads", threads), ("batch", batch)) if v is not None}
    if overrides:
        plat = plat.with_(**overrides)
    limits = AgentLimits(max_json_bytes=MAX_JSON_BYTES, max_onnx_bytes=int(max_onnx_mib * 2**20),
                         max_seconds=max_seconds, socket_timeout_s=SOCKET_TIMEOUT_S)
    config = AgentConfig(plat, secret, host, port, limits, reference, reference_every, warmup, repeats)
    if not is_loopback(host):
        print(f"warning: listening on {host}, not loopback: every machine that reaches this port can try the "
              f"token, and HTTP is not encrypted (use a trusted network or an SSH tunnel)", file=sys.stderr,
              flush=True)

    def ready(url: str, device: DeviceInfo) -> None:
        print(f"nas agent: serving {device.describe()} at {url} (Ctrl-C stops)", flush=True)

    serve(config, ready)
