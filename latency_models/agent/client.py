"""The client of a measurement agent (`nas agent` on the device): describe it, measure networks there.

    client = AgentClient("http://pi.local:8765", token)       # token None: read from $NAS_AGENT_TOKEN
    if client.available():                                    # cheap, never raises
        t = client.measure(spec)                              # AgentTiming: latency_ms, cv, noisy, reference, device
    client.describe()                                         # DeviceInfo

Failures are typed, all UserError subclasses with one-line messages: AgentAuthError (401 / no token),
AgentUnavailable (refused, reset, timed out, busy), AgentRequestError (the agent's 4xx/5xx line), ProtocolError.
Standard library only (urllib): no HTTP package is needed where the search runs. Redirects are not followed and
proxy settings of the environment are ignored, so the token goes to the agent's address and nowhere else.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

from latency_models.agent.protocol import (DEVICE_PATH, MEASURE_ONNX_PATH, MEASURE_PATH, TOKEN_ENV, AgentAuthError,
                                           AgentError, AgentRequestError, AgentTiming, AgentUnavailable, DeviceInfo,
                                           ProtocolError, check_token)
from search_space.spec import ArchSpec, BaselineSpec

NetSpec = ArchSpec | BaselineSpec
#: A measurement can take the agent's --max-seconds twice (the network, then the reference) plus the wait for
#: a measurement already running; the default leaves room for the agent's default limit of 120 s.
DEFAULT_TIMEOUT_S = 600.0
HEALTH_TIMEOUT_S = 3.0


def normalize_url(url: str) -> str:
    """http(s)://host:port without a trailing slash; "host:port" gets http://; AgentError when not a URL."""
    text = (url or "").strip()
    if text and "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentError(f"bad agent URL {url!r}: expected http://HOST:PORT (what `nas agent` prints)")
    if parts.username or parts.password:
        raise AgentError("the agent URL must not hold credentials: give the token with --token or "
                         f"{TOKEN_ENV}")
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise AgentError(f"bad agent URL {url!r}: give only http://HOST:PORT, without a path")
    try:
        parts.port
    except ValueError:
        raise AgentError(f"bad agent URL {url!r}: the port is not a number between 0 and 65535") from None
    return f"{parts.scheme}://{parts.netloc}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None  # the 3xx is then raised as an HTTPError: the token is not sent on to another address


def _message(body: bytes, fallback: str) -> str:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return " ".join(data["error"].split())
    return fallback


class AgentClient:
    """Talks to one agent: `describe()`, `measure(spec)`, `measure_onnx(path, shape)`, `available()`."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.url = normalize_url(url)
        self._token = check_token(token if token is not None else os.environ.get(TOKEN_ENV),
                                  f"--token (for {self.url})")
        if not timeout_s > 0:
            raise AgentError("the agent timeout must be positive")
        self.timeout_s = float(timeout_s)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def __repr__(self) -> str:
        return f"AgentClient({self.url!r}, timeout_s={self.timeout_s:g})"  # never the token

    # ------------------------------------------------------------------------------------------- the API
    def describe(self) -> DeviceInfo:
        """The agent's device: platform (runtime, threads, batch), host, CPU/GPU, versions, limits."""
        return DeviceInfo.from_dict(self._request("GET", DEVICE_PATH, timeout_s=min(self.timeout_s, 30.0)))

    def available(self, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
        """Whether the agent answers with this token now (a GET of its device description); never raises."""
        try:
            self._request("GET", DEVICE_PATH, timeout_s=min(timeout_s, self.timeout_s))
        except Exception:  # noqa: BLE001 - a health check: any failure means "not now"
            return False
        return True

    def measure(self, spec: NetSpec, platform_name: str | None = None) -> AgentTiming:
        """Time `spec` (at its resolution, the platform's batch) on the agent's device, with the reference
        network timed beside it. `platform_name`: a built-in platform the agent can measure (`describe().
        platforms`, e.g. "cpu" or "cpu-torch"); None: the agent's own (`nas agent --platform`)."""
        body: dict[str, Any] = {"spec": spec.to_dict()}
        if platform_name is not None:
            body["platform"] = platform_name
        data = json.dumps(body, sort_keys=True).encode()
        result = AgentTiming.from_dict(self._request("POST", MEASURE_PATH, data, "application/json"))
        if result.arch_id != spec.arch_id:
            raise ProtocolError(f"the agent measured {result.arch_id}, not {spec.arch_id}: is it the same version "
                                f"of this package?")
        return result

    def measure_onnx(self, model: str | Path | bytes, input_shape: tuple[int, int, int, int],
                     platform_name: str | None = None, name: str = "") -> AgentTiming:
        """Time an ONNX file (path or bytes) at `input_shape` (N, C, H, W) on the agent (ONNX Runtime only)."""
        data = model if isinstance(model, bytes) else _read(Path(model))
        query: dict[str, str] = {"shape": ",".join(str(int(d)) for d in input_shape)}
        if platform_name is not None:
            query["platform"] = platform_name
        if name:
            query["name"] = name
        path = f"{MEASURE_ONNX_PATH}?{urllib.parse.urlencode(query)}"
        return AgentTiming.from_dict(self._request("POST", path, data, "application/octet-stream"))

    # ---------------------------------------------------------------------------------------------- http
    def _request(self, method: str, path: str, data: bytes | None = None, content_type: str | None = None,
                 timeout_s: float | None = None) -> Any:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._token}")
        req.add_header("Accept", "application/json")
        if content_type:
            req.add_header("Content-Type", content_type)
        where = f"agent {self.url}"
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                text = exc.read()
            except (OSError, http.client.HTTPException):
                text = b""
            msg = _message(text, f"{exc.code} {exc.reason}")
            if exc.code == 401:
                raise AgentAuthError(f"{where} refused the token (401 unauthorized): give the agent's token with "
                                     f"--token or {TOKEN_ENV}") from None
            if exc.code == 503:
                raise AgentUnavailable(f"{where}: {msg}") from None
            if 300 <= exc.code < 400:
                raise AgentRequestError(f"{where} answered with a redirect ({exc.code}); not followed: is this the "
                                        f"address `nas agent` printed?", exc.code) from None
            raise AgentRequestError(f"{where}: {msg} (HTTP {exc.code})", exc.code) from None
        except urllib.error.URLError as exc:
            raise AgentUnavailable(f"{where} is not reachable: {_reason(exc.reason, timeout)}") from None
        except (TimeoutError, socket.timeout) as exc:
            raise AgentUnavailable(f"{where} is not reachable: {_reason(exc, timeout)}") from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise AgentUnavailable(f"{where} is not reachable: {_reason(exc, timeout)}") from None
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ProtocolError(f"{where} did not answer with JSON: is a measurement agent running there?") from None


class AgentLink:
    """An agent that may go away and come back (a search that must go on without it).

    `measure(spec)` returns the AgentTiming, or None while the agent is unreachable (then the caller predicts and
    labels the figure so); after a failure the agent is tried again at most every `retry_s` seconds, so a dead
    agent does not cost a timeout per candidate. AgentAuthError / AgentRequestError are raised: a wrong token or
    a network the device cannot run is not a passing outage."""

    def __init__(self, client: AgentClient, retry_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.retry_s = retry_s
        self.clock = clock
        self.last_error = ""
        self._next_try = 0.0
        self.up: bool | None = None  # None: not tried yet

    def _down(self, exc: AgentUnavailable) -> None:
        self.up, self.last_error = False, str(exc)
        self._next_try = self.clock() + self.retry_s

    def measure(self, spec: NetSpec, platform_name: str | None = None) -> AgentTiming | None:
        if self.up is False and self.clock() < self._next_try:
            return None
        if self.up is False and not self.client.available():  # cheap check before a long request
            self._next_try = self.clock() + self.retry_s
            return None
        try:
            result = self.client.measure(spec, platform_name)
        except AgentUnavailable as exc:
            self._down(exc)
            return None
        self.up, self.last_error = True, ""
        return result


def _reason(reason: Any, timeout: float) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is `nas agent` running there, on that port?)"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the agent closed the connection without answering"
    if isinstance(reason, ConnectionResetError):
        return "the connection was reset"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, OSError):
        return reason.strerror or str(reason) or type(reason).__name__
    return str(reason) or type(reason).__name__


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AgentError(f"cannot read {path}: {exc.strerror or exc}") from None
