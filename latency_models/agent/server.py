"""The measurement agent: a token-authenticated HTTP server (Werkzeug) that times networks on this device.

Endpoints (JSON answers; every request to any path needs `Authorization: Bearer <token>`, else 401 + a log line):
  GET  /v1/device                      DeviceInfo: platform, host, CPU/GPU, versions, protocol, limits
  POST /v1/measure                     body {"spec": <spec JSON object>, "platform": optional built-in name}
  POST /v1/measure/onnx?shape=N,C,H,W  body: an ONNX file (application/octet-stream; ONNX Runtime platforms only)
A measurement answers {"kind": "measured", "latency_ms", "cv", "noisy", ..., "reference": {...}, "device": {...},
"measured_at"}; errors answer {"error": one line} with 400 (bad request), 401, 404, 405, 413 (body too large),
422 (the network cannot be measured), 503 (busy), 504 (past --max-seconds) or 500.

Measurements never overlap: one lock, one measuring process (worker.py) that is killed past `--max-seconds`.
Beside every measurement the reference network (ShuffleNet v2 1x at the same resolution) is timed, or taken
from the last minute and a half, and compared with its first timing on this agent: the drift ratio.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from latency_models.agent.protocol import (API_VERSION, DEVICE_PATH, DRIFT_FLAG, MAX_ONNX_BATCH, MEASURE_ONNX_PATH,
                                           MEASURE_PATH, REFERENCE_NAME, REFERENCE_TTL_S, AgentError, AgentLimits,
                                           DeviceInfo, check_token)
from latency_models.agent.worker import Measurer, MeasurementTimeout, SubprocessMeasurer, WorkerFailed
from latency_models.platform import Platform, PlatformError, builtin_platforms
from search_space.errors import UserError
from search_space.spec import MAX_RESOLUTION, MIN_RESOLUTION, SpecError, spec_from_dict

log = logging.getLogger("latency_models.agent")


def import_werkzeug() -> Any:
    """The werkzeug package, or AgentError saying how to install it (it comes with Flask and Dash)."""
    try:
        import werkzeug.serving  # noqa: F401
        import werkzeug.wrappers  # noqa: F401
    except ImportError:
        raise AgentError("the measurement agent needs Werkzeug (pip install werkzeug)") from None
    import werkzeug

    return werkzeug


def now_iso() -> str:
    """UTC now, to the second (the timings files' `measured_at` format)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def printable(text: str, limit: int = 200) -> str:
    """`text` with control characters escaped, cut to `limit` characters (for log lines of client input)."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[:limit] + "..."


@dataclass(frozen=True)
class AgentConfig:
    """How an agent serves: the platform it measures by default, its token, address, protocol and limits."""

    platform: Platform
    token: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 0
    limits: AgentLimits = AgentLimits()
    reference: str = REFERENCE_NAME
    reference_ttl_s: float = REFERENCE_TTL_S
    warmup: int | None = None
    repeats: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", check_token(self.token))
        if not self.platform.measurable:
            raise PlatformError(f"platform {self.platform.name} cannot be measured: its numbers are published")
        if not 0 <= self.port <= 65535:
            raise AgentError(f"bad port {self.port}: must be between 0 and 65535")
        if not self.limits.max_seconds > 0 or not self.limits.socket_timeout_s > 0:
            raise AgentError("the agent's time limits must be positive")
        if self.limits.max_json_bytes < 1024 or self.limits.max_onnx_bytes < 1024:
            raise AgentError("the agent's body limits must be at least 1 KiB")
        if self.reference_ttl_s < 0:
            raise AgentError("the reference's re-timing interval must not be negative")


class HTTPFailure(Exception):
    """An error answer: HTTP `status` with the one-line `message`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _RefEntry:
    timing: dict[str, Any]
    measured_at: str
    taken: float  # monotonic seconds
    arch_id: str
    spec_json: str


class AgentApp:
    """The WSGI application: authentication, routing, limits, one measurement at a time, the reference."""

    def __init__(self, config: AgentConfig, measurer: Measurer, device: DeviceInfo,
                 clock: Callable[[], float] = time.monotonic):
        werkzeug = import_werkzeug()
        from werkzeug.routing import Map, Rule

        self.werkzeug = werkzeug
        self.config = config
        self.measurer = measurer
        self.device = device
        self.clock = clock
        self._token = config.token.encode()
        self._lock = threading.Lock()
        self._refs: dict[tuple[str, int], _RefEntry] = {}
        self._baselines: dict[tuple[str, int], float] = {}
        self.url_map = Map([Rule(DEVICE_PATH, endpoint="device", methods=["GET"]),
                            Rule(MEASURE_PATH, endpoint="measure", methods=["POST"]),
                            Rule(MEASURE_ONNX_PATH, endpoint="measure_onnx", methods=["POST"])])

    # --------------------------------------------------------------------------------------------- wsgi
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from werkzeug.wrappers import Request

        request = Request(environ)
        try:
            response = self._dispatch(request)
        except HTTPFailure as exc:
            response = self._error(exc.status, exc.message)
        except Exception as exc:  # noqa: BLE001 - one line to the client, the traceback to the log
            log.exception("internal error on %s %s", request.method, printable(request.path))
            response = self._error(500, f"internal error of the agent: {type(exc).__name__}: {exc}".splitlines()[0])
        return response(environ, start_response)

    def _json(self, obj: Any, status: int = 200) -> Any:
        from werkzeug.wrappers import Response

        resp = Response(json.dumps(obj, sort_keys=True), status=status, mimetype="application/json")
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    def _error(self, status: int, message: str) -> Any:
        resp = self._json({"error": message, "status": status}, status)
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="nas-agent"'
        return resp

    def _authorized(self, request: Any) -> str:
        """"" when the request carries the token, else why not (for the log; the token is never logged)."""
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if not header:
            return "no Authorization header"
        if scheme.lower() != "bearer" or not given.strip():
            return "not a Bearer token"
        if not hmac.compare_digest(given.strip().encode(), self._token):
            return "wrong token"
        return ""

    def _dispatch(self, request: Any) -> Any:
        from werkzeug.exceptions import MethodNotAllowed, NotFound

        why = self._authorized(request)
        if why:
            log.warning("unauthorized request from %s: %s %s (%s)", printable(request.remote_addr or "?"),
                        printable(request.method, 20), printable(request.path), why)
            raise HTTPFailure(401, "unauthorized: this agent needs its token (Authorization: Bearer <token>)")
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, _ = adapter.match()
        except NotFound:
            raise HTTPFailure(404, f"no such endpoint: {printable(request.path)} (see {DEVICE_PATH}, {MEASURE_PATH}, "
                                   f"{MEASURE_ONNX_PATH})") from None
        except MethodNotAllowed as exc:
            raise HTTPFailure(405, f"{printable(request.method, 20)} is not allowed on {printable(request.path)} "
                                   f"(allowed: {', '.join(sorted(exc.valid_methods or []))})") from None
        return getattr(self, f"_{endpoint}")(request)

    # -------------------------------------------------------------------------------------------- bodies
    def _body(self, request: Any, limit: int, what: str) -> bytes:
        length = request.content_length
        if length is not None and length > limit:
            raise HTTPFailure(413, f"{what} of {length} bytes is larger than this agent's limit of {limit} bytes")
        data = request.stream.read(limit + 1)
        if len(data) > limit:
            raise HTTPFailure(413, f"{what} is larger than this agent's limit of {limit} bytes")
        return data

    def _platform(self, name: Any) -> Platform:
        if name is None or name == self.config.platform.name:
            return self.config.platform
        if not isinstance(name, str):
            raise HTTPFailure(400, "field 'platform' must be a platform name (a string)")
        known = builtin_platforms()
        if name not in known or not known[name].measurable:
            measurable = ", ".join(self.device.platforms) or self.config.platform.name
            raise HTTPFailure(400, f"unknown platform {printable(name, 60)!r} on this agent (it measures: "
                                   f"{measurable})")
        if self.device.platforms and name not in self.device.platforms:
            raise HTTPFailure(422, f"platform {name} cannot be measured on this device "
                                   f"(it measures: {', '.join(self.device.platforms)})")
        return known[name]

    # --------------------------------------------------------------------------------------------- timing
    def _run(self, job: dict[str, Any], label: str) -> dict[str, Any]:
        """Time one job in the measuring process (caller holds the lock); HTTPFailure on any failure."""
        limit = self.config.limits.max_seconds
        job = {**job, "warmup": self.config.warmup, "repeats": self.config.repeats}
        try:
            out = self.measurer.run(job, limit)
        except MeasurementTimeout:
            log.warning("measurement of %s stopped: past the limit of %g s", label, limit)
            raise HTTPFailure(504, f"the measurement of {label} did not finish within {limit:g} s (the agent's "
                                   f"--max-seconds); it was stopped") from None
        except WorkerFailed as exc:
            log.error("measurement of %s failed: %s", label, exc)
            raise HTTPFailure(500, f"the measurement of {label} failed: {exc}") from None
        if not out.get("ok"):
            status = 422 if out.get("user") else 500
            raise HTTPFailure(status, f"cannot measure {label}: {out.get('error')}")
        return out

    def _reference(self, platform: Platform, resolution: int) -> dict[str, Any]:
        """The reference at `resolution`: re-timed when older than the TTL; with its age and drift ratio."""
        from search_space.references import reference_spec

        key = (platform.name, resolution)
        entry = self._refs.get(key)
        now = self.clock()
        if entry is None or now - entry.taken > self.config.reference_ttl_s:
            spec = reference_spec(self.config.reference).with_resolution(resolution)
            out = self._run({"op": "network", "spec_json": spec.to_json(), "platform": platform.to_dict()},
                            f"the reference {spec.label()} at {resolution}px")
            entry = _RefEntry(out["timing"], now_iso(), self.clock(), spec.arch_id, spec.to_json())
            self._refs[key] = entry
            self._baselines.setdefault(key, float(entry.timing["latency_ms"]))
            now = self.clock()
        t = entry.timing
        ratio = float(t["latency_ms"]) / self._baselines[key]
        return {"name": self.config.reference, "arch_id": entry.arch_id, "resolution": resolution,
                "latency_ms": t["latency_ms"], "iqr_ms": t["iqr_ms"], "min_ms": t["min_ms"], "samples": t["samples"],
                "cv": t["cv"], "noisy": t["noisy"], "measured_at": entry.measured_at,
                "age_s": round(max(0.0, now - entry.taken), 3), "drift_ratio": ratio,
                "drifted": bool(abs(ratio - 1.0) > DRIFT_FLAG), "spec_json": entry.spec_json}

    def _measured(self, job: dict[str, Any], platform: Platform, label: str, arch_id: str, name: str,
                  resolution: int, batch: int, ref_resolution: int) -> Any:
        wait = self.config.limits.max_seconds
        if not self._lock.acquire(timeout=wait):
            raise HTTPFailure(503, f"busy: another measurement has been running for over {wait:g} s; retry later")
        try:
            t0 = time.perf_counter()
            out = self._run({**job, "platform": platform.to_dict()}, label)
            measured_at = now_iso()
            reference = self._reference(platform, ref_resolution)
            elapsed = time.perf_counter() - t0
        finally:
            self._lock.release()
        t = out["timing"]
        log.info("measured %s: %.3f ms (cv %.1f%%%s), reference %.3f ms (drift x%.3f%s), %.1f s", label,
                 t["latency_ms"], 100 * t["cv"], ", noisy" if t["noisy"] else "", reference["latency_ms"],
                 reference["drift_ratio"], ", drifted" if reference["drifted"] else "", elapsed)
        return self._json({"kind": "measured", "latency_ms": t["latency_ms"], "iqr_ms": t["iqr_ms"], "cv": t["cv"],
                           "min_ms": t["min_ms"], "samples": t["samples"], "noisy": t["noisy"],
                           "attempts": t.get("attempts", 1), "arch_id": arch_id, "name": name,
                           "resolution": resolution, "batch": batch, "platform": platform.to_dict(),
                           "device": self.device.to_dict(), "reference": reference, "measured_at": measured_at,
                           "elapsed_s": round(elapsed, 3)})

    # ------------------------------------------------------------------------------------------ endpoints
    def _device(self, request: Any) -> Any:
        return self._json(self.device.to_dict())

    def _measure(self, request: Any) -> Any:
        raw = self._body(request, self.config.limits.max_json_bytes, "the request body")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPFailure(400, f"the request body is not JSON: {str(exc).splitlines()[0]}") from None
        if not isinstance(body, dict) or "spec" not in body:
            raise HTTPFailure(400, 'the request body must be a JSON object {"spec": {...}, "platform": optional}')
        extra = sorted(set(body) - {"spec", "platform"})
        if extra:
            raise HTTPFailure(400, f"unknown field {printable(str(extra[0]), 60)!r} in the request body")
        try:
            spec = spec_from_dict(body["spec"])
        except SpecError as exc:
            raise HTTPFailure(400, f"invalid architecture: {exc}") from None
        except UserError as exc:
            raise HTTPFailure(400, f"invalid architecture: {exc}") from None
        platform = self._platform(body.get("platform"))
        return self._measured({"op": "network", "spec_json": spec.to_json()}, platform, spec.label(), spec.arch_id,
                              spec.name, spec.resolution, platform.batch, spec.resolution)

    def _measure_onnx(self, request: Any) -> Any:
        platform = self._platform(request.args.get("platform"))
        if platform.runtime != "onnxruntime":
            raise HTTPFailure(400, f"platform {platform.name} measures with {platform.runtime}: ONNX files need an "
                                   f"ONNX Runtime platform (nas agent --platform cpu); send the spec JSON instead")
        shape = parse_shape(request.args.get("shape") or request.headers.get("X-Input-Shape") or "")
        data = self._body(request, self.config.limits.max_onnx_bytes, "the ONNX file")
        if not data:
            raise HTTPFailure(400, "the request body is empty: send the ONNX file as application/octet-stream")
        digest = hashlib.sha256(data).hexdigest()[:12]
        name = printable(request.args.get("name") or f"onnx-{digest}", 80)
        ref_res = shape[2] if shape[2] == shape[3] and MIN_RESOLUTION <= shape[2] <= MAX_RESOLUTION \
            else platform.resolution
        with tempfile.TemporaryDirectory(prefix="nas-agent-") as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(data)
            del data
            return self._measured({"op": "onnx", "path": str(path), "shape": list(shape), "label": name}, platform,
                                  name, digest, name, shape[2], shape[0], ref_res)


def parse_shape(text: str) -> tuple[int, int, int, int]:
    """"N,C,H,W" -> 4 positive ints within the limits; HTTPFailure(400) otherwise."""
    if not text:
        raise HTTPFailure(400, "give the ONNX input shape: ?shape=N,C,H,W (or header X-Input-Shape)")
    try:
        dims = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise HTTPFailure(400, f"bad input shape {printable(text, 60)!r}: expected N,C,H,W integers") from None
    if len(dims) != 4 or any(d < 1 for d in dims):
        raise HTTPFailure(400, f"bad input shape {printable(text, 60)!r}: expected 4 positive integers N,C,H,W")
    if dims[0] > MAX_ONNX_BATCH or dims[1] > 4096 or max(dims[2:]) > MAX_RESOLUTION:
        raise HTTPFailure(400, f"input shape {dims} is too large for this agent (batch <= {MAX_ONNX_BATCH}, "
                               f"channels <= 4096, sides <= {MAX_RESOLUTION})")
    return dims  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ serving
def device_info(config: AgentConfig, facts: dict[str, Any]) -> DeviceInfo:
    """The agent's DeviceInfo from `device_facts` (system info and measurable platforms of the worker)."""
    system = dict(facts.get("system") or {})
    versions = system.pop("versions", {}) or {}
    return DeviceInfo(platform=config.platform, hostname=str(system.pop("hostname", "")),
                      os=str(system.pop("os", "")), cpu_model=str(system.pop("cpu_model", "")),
                      gpu_model=system.pop("gpu_model", None), versions=versions, system=system,
                      platforms=tuple(facts.get("platforms") or (config.platform.name,)), reference=config.reference,
                      reference_ttl_s=config.reference_ttl_s, warmup=config.warmup, repeats=config.repeats,
                      limits=config.limits, api_version=API_VERSION)


def _handler_class(socket_timeout_s: float) -> type:
    from werkzeug.serving import WSGIRequestHandler

    class AgentRequestHandler(WSGIRequestHandler):
        """Werkzeug's handler with a socket timeout, a plain Server header and the agent's access log."""

        timeout = socket_timeout_s

        def version_string(self) -> str:
            return "nas-agent"

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.info("%s %s %s %s", printable(self.address_string()), printable(getattr(self, "command", "-"), 20),
                     printable(getattr(self, "path", "-")), code)

        def log(self, type: str, message: str, *args: Any) -> None:
            level = logging.ERROR if type == "error" else logging.INFO
            log.log(level, "%s %s", printable(self.address_string()), printable(message % args if args else message,
                                                                                 2000))

    return AgentRequestHandler


class _Stop(BaseException):
    """SIGTERM / SIGINT: stop serving. Not an Exception: the signal can arrive while the server dispatches a request,
    and socketserver's dispatch catches (and only logs) every Exception there, which kept the agent serving."""


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever sys.stderr is when a line is logged (not the stream of the moment it was made,
    which a caller may have replaced and closed since: a test's capture, a redirected CLI run in one process)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging() -> None:
    """Agent log lines on stderr (time, 'nas agent:', message), once."""
    if not any(getattr(h, "_nas_agent", False) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s nas agent: %(message)s", "%Y-%m-%d %H:%M:%S"))
        handler._nas_agent = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_agent_server(config: AgentConfig, measurer: Measurer | None = None) -> tuple[Any, AgentApp]:
    """Bind the address, start the measuring process and build the app and server (not yet serving).

    AgentError (one line) when the address cannot be bound or the runtime is missing."""
    import_werkzeug()
    from werkzeug.serving import make_server

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:  # bound first and here: an address in use fails at once, in one line (werkzeug would print and exit)
        sock = socket.create_server((config.host.strip("[]"), config.port), family=family, backlog=64)
    except OSError as exc:
        why = str(exc.strerror or exc).split(" (while attempting")[0]
        raise AgentError(f"cannot listen on {config.host}:{config.port}: {why}") from None
    try:
        measurer = measurer or SubprocessMeasurer(config.platform)
        try:
            facts = measurer.start()
        except WorkerFailed as exc:
            raise AgentError(f"the agent cannot measure platform {config.platform.name} here: {exc}") from None
        app = AgentApp(config, measurer, device_info(config, facts or {}))
        server = make_server(config.host, sock.getsockname()[1], app, threaded=True,
                             request_handler=_handler_class(config.limits.socket_timeout_s), fd=sock.fileno())
    except BaseException:
        if measurer is not None:
            measurer.close()
        raise
    finally:
        sock.close()  # the server holds its own duplicate of the socket
    server._server_version = "nas-agent"
    return server, app


def serve(config: AgentConfig, on_ready: Callable[[str, DeviceInfo], None] | None = None,
          measurer: Measurer | None = None) -> None:
    """Serve until SIGINT / SIGTERM, then stop the measuring process; `on_ready(url, device)` once listening."""
    configure_logging()

    def stop(signum: int, frame: Any) -> None:
        raise _Stop()

    # SIGINT too: a process started in the background by a non-interactive shell (`nas agent ... &`, nohup, a CI
    # job) inherits SIGINT as ignored, and Python then never raises KeyboardInterrupt for it
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        try:
            server, app = make_agent_server(config, measurer)
        except (KeyboardInterrupt, _Stop):  # stopped while starting: make_agent_server cleaned up
            return
        try:
            if on_ready is not None:
                on_ready(url_of(config.host, server.port), app.device)
            server.serve_forever(poll_interval=0.5)
        except (KeyboardInterrupt, _Stop):
            pass
        finally:
            server.server_close()
            app.measurer.close()
            log.info("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
