"""The measurement agent: auth on every path, limits, the reference beside each timing, the client's typed
errors, timings rows; the app in-process (fake measurer) and a real `nas agent` process on loopback."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from latency_models.agent import (AgentAuthError, AgentClient, AgentError, AgentRequestError, AgentTiming,
                                  AgentUnavailable, DeviceInfo, ProtocolError)
from latency_models.agent.protocol import (DRIFT_FLAG, MIN_TOKEN_CHARS, TOKEN_ENV, AgentLimits, check_token)
from latency_models.agent.records import timing_rows, timings_meta
from latency_models.platform import builtin_platforms
from latency_models.timings import TimingsWriter, load_timings
from search_space.references import reference_spec
from tests.infra._proc import free_port, pid_alive

pytest.importorskip("werkzeug")

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CPU = builtin_platforms()["cpu"]
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------- in-process app
class FakeMeasurer:
    """Answers jobs with canned timings: the reference takes `ref_ms` (changeable), any other network 2 ms."""

    def __init__(self, ref_ms: float = 10.0):
        self.jobs: list[dict] = []
        self.ref_ms = ref_ms
        self.fail: dict | None = None
        self.timeout = False

    def start(self) -> dict:
        return {"system": {"hostname": "fake-host", "os": "Linux", "cpu_model": "Fake CPU", "gpu_model": None,
                           "versions": {"python": "3"}, "cpu_count": 4},
                "platforms": ["cpu", "cpu-torch"]}

    def run(self, job: dict, timeout_s: float) -> dict:
        from latency_models.agent.worker import MeasurementTimeout

        self.jobs.append(job)
        if self.timeout:
            raise MeasurementTimeout("stopped")
        if self.fail is not None:
            return self.fail
        ms = self.ref_ms if '"shufflenet_v2_x1_0"' in job.get("spec_json", "") else 2.0
        return {"ok": True, "timing": {"latency_ms": ms, "iqr_ms": 0.01, "cv": 0.004, "min_ms": ms * 0.98,
                                       "samples": 5, "noisy": False, "attempts": 1}, "elapsed_s": 0.1}

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def app_parts():
    from werkzeug.test import Client

    from latency_models.agent.server import AgentApp, AgentConfig, device_info

    measurer, clock = FakeMeasurer(), Clock()
    config = AgentConfig(CPU, TOKEN, limits=AgentLimits(max_json_bytes=4096, max_onnx_bytes=8192, max_seconds=5))
    app = AgentApp(config, measurer, device_info(config, measurer.start()), clock=clock)
    return Client(app), measurer, clock, app


def spec_body(name: str = "shufflenet_v2_x0_5", res: int = 64, **extra) -> dict:
    return {"spec": json.loads(reference_spec(name).with_resolution(res).to_json()), **extra}


@pytest.mark.parametrize("headers,why", [({}, "no Authorization header"),
                                         ({"Authorization": "Bearer wrong-token-0123456789"}, "wrong token"),
                                         ({"Authorization": f"Basic {TOKEN}"}, "not a Bearer token"),
                                         ({"Authorization": f"Bearer {TOKEN}x"}, "wrong token")])
@pytest.mark.parametrize("method,path", [("GET", "/v1/device"), ("POST", "/v1/measure"), ("POST", "/v1/measure/onnx"),
                                         ("GET", "/"), ("GET", "/no/such/path"), ("DELETE", "/v1/device"),
                                         ("HEAD", "/v1/device")])
def test_every_path_needs_the_token(app_parts, caplog, headers, why, method, path):
    client, measurer, _, _ = app_parts
    with caplog.at_level("WARNING", logger="latency_models.agent"):
        resp = client.open(path, method=method, headers=headers, data=b"{}",
                           environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    if method != "HEAD":
        assert "unauthorized" in resp.get_json()["error"]
    assert not measurer.jobs
    lines = [r.getMessage() for r in caplog.records]
    assert any("unauthorized request from 127.0.0.1" in m and path in m and why in m for m in lines), lines
    assert not any(TOKEN in m for m in lines)  # the token is never logged


def test_device_description(app_parts):
    client, _, _, _ = app_parts
    resp = client.get("/v1/device", headers=AUTH)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    info = DeviceInfo.from_dict(resp.get_json())
    assert (info.hostname, info.cpu_model, info.runtime, info.threads, info.batch) == \
        ("fake-host", "Fake CPU", "onnxruntime", 1, 1)
    assert info.platforms == ("cpu", "cpu-torch") and info.limits.max_json_bytes == 4096
    assert "fake-host" in info.describe() and "onnxruntime" in info.describe()


def test_measure_carries_the_reference_and_caches_it(app_parts):
    client, measurer, clock, _ = app_parts
    resp = client.post("/v1/measure", json=spec_body(), headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    t = AgentTiming.from_dict(resp.get_json())
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(64)
    assert (t.kind, t.latency_ms, t.arch_id, t.resolution, t.batch) == ("measured", 2.0, spec.arch_id, 64, 1)
    assert t.reference.name == "shufflenet_v2_x1_0" and t.reference.resolution == 64
    assert t.reference.latency_ms == 10.0 and t.reference.drift_ratio == 1.0 and not t.drifted
    assert t.device.hostname == "fake-host" and t.platform.name == "cpu"
    assert len(measurer.jobs) == 2  # the network, then the reference beside it

    clock.t += 30  # within the reference's TTL: reused
    t2 = AgentTiming.from_dict(client.post("/v1/measure", json=spec_body(), headers=AUTH).get_json())
    assert len(measurer.jobs) == 3 and t2.reference.age_s == pytest.approx(30) \
        and t2.reference.measured_at == t.reference.measured_at

    client.post("/v1/measure", json=spec_body(res=96), headers=AUTH)  # another resolution: its own reference
    assert len(measurer.jobs) == 5

    clock.t += 120  # past the TTL: re-timed; the device got 10% slower -> flagged as drift
    measurer.ref_ms = 11.0
    t3 = AgentTiming.from_dict(client.post("/v1/measure", json=spec_body(), headers=AUTH).get_json())
    assert len(measurer.jobs) == 7 and t3.reference.age_s == 0
    assert t3.drift_ratio == pytest.approx(1.1) and t3.drifted and 1.1 - 1 > DRIFT_FLAG
    assert t3.corrected_latency_ms == pytest.approx(2.0 / 1.1)
    assert t3.relative_to_reference == pytest.approx(2.0 / 11.0)


def test_platform_choice(app_parts):
    client, measurer, _, _ = app_parts
    resp = client.post("/v1/measure", json=spec_body(platform="cpu-torch"), headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["platform"]["runtime"] == "torch"
    assert json.loads(json.dumps(measurer.jobs[-1]["platform"]))["name"] == "cpu-torch"
    for name, status in (("arm", 400), ("nope", 400), ("gpu", 422), (3, 400)):
        resp = client.post("/v1/measure", json=spec_body(platform=name), headers=AUTH)
        assert resp.status_code == status, (name, resp.get_json())


@pytest.mark.parametrize("body,status,words", [
    (b"not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"spec": {"stages": 3}}).encode(), 400, "invalid architecture"),
    (json.dumps({**spec_body(), "extra": 1}).encode(), 400, "unknown field 'extra'"),
])
def test_bad_requests_get_one_line(app_parts, body, status, words):
    client, measurer, _, _ = app_parts
    resp = client.post("/v1/measure", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == status and words in resp.get_json()["error"]
    assert "\n" not in resp.get_json()["error"] and not measurer.jobs


def test_unknown_path_and_method_with_the_token(app_parts):
    client, _, _, _ = app_parts
    assert client.get("/v2/whatever", headers=AUTH).status_code == 404
    resp = client.get("/v1/measure", headers=AUTH)
    assert resp.status_code == 405 and "POST" in resp.get_json()["error"]


def test_body_size_limits(app_parts):
    client, measurer, _, _ = app_parts
    resp = client.post("/v1/measure", data=b"x" * 5000, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 413 and "4096" in resp.get_json()["error"]
    resp = client.post("/v1/measure/onnx?shape=1,3,64,64", data=b"x" * 9000,
                       headers={**AUTH, "Content-Type": "application/octet-stream"})
    assert resp.status_code == 413 and "8192" in resp.get_json()["error"]
    assert not measurer.jobs


def test_onnx_upload(app_parts):
    client, measurer, _, _ = app_parts
    resp = client.post("/v1/measure/onnx?shape=1,3,64,64&name=mine", data=b"onnx-bytes",
                       headers={**AUTH, "Content-Type": "application/octet-stream"})
    assert resp.status_code == 200, resp.get_json()
    t = AgentTiming.from_dict(resp.get_json())
    assert (t.name, t.resolution, t.batch, t.reference.resolution) == ("mine", 64, 1, 64)
    job = measurer.jobs[0]
    assert job["op"] == "onnx" and job["shape"] == [1, 3, 64, 64] and not Path(job["path"]).exists()  # removed
    for query, words in (("", "input shape"), ("?shape=1,3,64", "4 positive"), ("?shape=a,b,c,d", "integers"),
                         ("?shape=1,3,64,64&platform=cpu-torch", "ONNX Runtime platform")):
        resp = client.post(f"/v1/measure/onnx{query}", data=b"x", headers=AUTH)
        assert resp.status_code == 400 and words in resp.get_json()["error"], (query, resp.get_json())
    resp = client.post("/v1/measure/onnx", data=b"x", headers={**AUTH, "X-Input-Shape": "2,3,32,32"})
    assert resp.status_code == 200 and resp.get_json()["batch"] == 2


def test_measurement_failures(app_parts):
    client, measurer, _, _ = app_parts
    measurer.fail = {"ok": False, "user": True, "error": "net: cannot run at input (1, 3, 64, 64)"}
    resp = client.post("/v1/measure", json=spec_body(), headers=AUTH)
    assert resp.status_code == 422 and "cannot run" in resp.get_json()["error"]
    measurer.fail = {"ok": False, "user": False, "error": "RuntimeError: boom"}
    assert client.post("/v1/measure", json=spec_body(), headers=AUTH).status_code == 500
    measurer.fail, measurer.timeout = None, True
    resp = client.post("/v1/measure", json=spec_body(), headers=AUTH)
    assert resp.status_code == 504 and "--max-seconds" in resp.get_json()["error"]


def test_one_measurement_at_a_time(app_parts):
    client, _, _, app = app_parts
    app.config = type(app.config)(CPU, TOKEN, limits=AgentLimits(max_seconds=0.2))
    with app._lock:  # a measurement is running
        resp = client.post("/v1/measure", json=spec_body(), headers=AUTH)
        assert resp.status_code == 503 and "busy" in resp.get_json()["error"]
        assert client.get("/v1/device", headers=AUTH).status_code == 200  # the description still answers


# ----------------------------------------------------------------------------------- protocol, client, rows
def test_tokens():
    assert check_token("  " + TOKEN + "\n") == TOKEN
    for bad in (None, "", "short", "x" * (MIN_TOKEN_CHARS - 1), "with space in it 0123456789"):
        with pytest.raises(AgentAuthError):
            check_token(bad)


def test_drift_flag_matches_the_timings_datasets():
    from latency_models.dataset import DRIFT_FLAG as DATASET_FLAG

    assert DRIFT_FLAG == DATASET_FLAG


def test_config_refuses_bad_settings():
    from latency_models.agent.server import AgentConfig, is_loopback

    with pytest.raises(AgentAuthError):
        AgentConfig(CPU, "short")
    with pytest.raises(Exception, match="published"):
        AgentConfig(builtin_platforms()["arm"], TOKEN)
    assert TOKEN not in repr(AgentConfig(CPU, TOKEN))
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("::") and not is_loopback("203.0.113.5") and not is_loopback("example.org")


def test_client_url_and_token(monkeypatch):
    from latency_models.agent.client import normalize_url

    assert normalize_url("http://pi.local:8765/") == "http://pi.local:8765"
    assert normalize_url("10.0.0.2:8765") == "http://10.0.0.2:8765"
    for bad in ("ftp://x:1", "http://", "http://u:p@host:1", "http://host:1/v1/device", "http://host:99999"):
        with pytest.raises(AgentError):
            normalize_url(bad)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(AgentAuthError, match=TOKEN_ENV):
        AgentClient("http://127.0.0.1:1")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    client = AgentClient("http://127.0.0.1:1")
    assert TOKEN not in repr(client)


def test_client_on_a_closed_port():
    client = AgentClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout_s=5)
    assert client.available() is False
    with pytest.raises(AgentUnavailable, match="connection refused"):
        client.describe()
    with pytest.raises(AgentUnavailable):
        client.measure(reference_spec("shufflenet_v2_x0_5"))


def test_link_goes_on_without_the_agent_and_retries_later():
    from latency_models.agent import AgentLink

    class Flaky:
        def __init__(self):
            self.up, self.calls, self.checks = True, 0, 0

        def measure(self, spec, platform_name=None):
            self.calls += 1
            if not self.up:
                raise AgentUnavailable("agent http://x:1 is not reachable: connection refused")
            return "timing"

        def available(self):
            self.checks += 1
            return self.up

    flaky, clock = Flaky(), Clock()
    link = AgentLink(flaky, retry_s=30, clock=clock)  # type: ignore[arg-type]
    spec = reference_spec("shufflenet_v2_x0_5")
    assert link.measure(spec) == "timing" and link.up
    flaky.up = False
    assert link.measure(spec) is None and link.up is False and "refused" in link.last_error
    assert link.measure(spec) is None and flaky.calls == 2 and flaky.checks == 0  # not retried within retry_s
    clock.t += 31
    assert link.measure(spec) is None and flaky.checks == 1 and flaky.calls == 2  # a cheap check, still away
    flaky.up = True
    assert link.measure(spec) is None  # the check above set the next try 30 s later
    clock.t += 31
    assert link.measure(spec) == "timing" and link.up and link.last_error == ""


class _Redirect(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802
        _Redirect.seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/v1/device":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
        else:
            body = b"<html>not an agent</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_client_follows_no_redirect_and_wants_json():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = AgentClient(f"http://127.0.0.1:{server.server_port}", TOKEN, timeout_s=5)
        with pytest.raises(AgentRequestError, match="redirect"):
            client.describe()
        assert [p for p, _ in _Redirect.seen] == ["/v1/device"]  # the token went nowhere else
        with pytest.raises(ProtocolError, match="JSON"):
            client._request("GET", "/other")
    finally:
        server.shutdown()
        server.server_close()


def fake_result(spec, ref_spec) -> AgentTiming:
    device = DeviceInfo(platform=CPU, hostname="dev-1", os="Linux", cpu_model="Fake CPU", versions={"torch": "2"},
                        platforms=("cpu",), warmup=1, repeats=5)
    ref = {"name": "shufflenet_v2_x1_0", "arch_id": ref_spec.arch_id, "resolution": ref_spec.resolution,
           "latency_ms": 10.0, "iqr_ms": 0.1, "min_ms": 9.8, "samples": 5, "cv": 0.01, "noisy": False,
           "measured_at": "2026-01-01T00:00:00+00:00", "age_s": 3.0, "drift_ratio": 1.0, "drifted": False,
           "spec_json": ref_spec.to_json()}
    data = {"kind": "measured", "latency_ms": 2.0, "iqr_ms": 0.02, "cv": 0.01, "min_ms": 1.9, "samples": 5,
            "noisy": False, "arch_id": spec.arch_id, "name": spec.name, "resolution": spec.resolution, "batch": 1,
            "platform": CPU.to_dict(), "device": device.to_dict(), "reference": ref,
            "measured_at": "2026-01-01T00:00:03+00:00"}
    return AgentTiming.from_dict(json.loads(json.dumps(data)))


def test_records_round_trip_and_rows(tmp_path):
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(64)
    ref_spec = reference_spec("shufflenet_v2_x1_0").with_resolution(64)
    result = fake_result(spec, ref_spec)
    assert AgentTiming.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    rows = timing_rows(result, spec)
    assert [r.role for r in rows] == ["sample", "drift_ref"] and rows[1].arch_id == ref_spec.arch_id
    assert rows[0].measured_at == "2026-01-01T00:00:03+00:00"  # the device's clock
    with TimingsWriter(tmp_path / "t.csv", timings_meta(result.device, agent="http://x:1")) as w:
        w.write_all(rows)
    t = load_timings(tmp_path / "t.csv")
    assert len(t) == 2 and t.meta.hostname == "dev-1" and t.meta.cpu_model == "Fake CPU"
    assert t.meta.platform == CPU and t.meta.settings["agent"] == "http://x:1"
    with pytest.raises(ValueError):
        timing_rows(result, ref_spec)
    bad = result.device.to_dict() | {"api_version": 99}
    with pytest.raises(ProtocolError, match="version"):
        DeviceInfo.from_dict(bad)


# ------------------------------------------------------------------------------------ a real agent process
class AgentProcess:
    """`python -m nas.cli.main agent` as a child process on loopback; stdout lines collected, stderr to a file."""

    def __init__(self, tmp: Path, *args: str, port: int = 0, token: str = TOKEN, ignore_sigint: bool = False):
        self.args = ["agent", "--port", str(port), "--repeats", "3", "--warmup", "1", *args]
        self.token = token
        self.ignore_sigint = ignore_sigint  # as a shell's background job (`&`, nohup) starts it
        self.log = tmp / f"agent-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.lines: list[str] = []

    def start(self, timeout_s: float = 180.0) -> "AgentProcess":
        env = {**os.environ, TOKEN_ENV: self.token, "PYTHONPATH": str(ROOT)}
        self._err = open(self.log, "w")
        ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if self.ignore_sigint else None
        self.proc = subprocess.Popen([sys.executable, "-m", "nas.cli.main", *self.args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=self._err, text=True, preexec_fn=ignore)
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout_s
        while not self.url:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}: {self.log.read_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"agent did not start: {self.log.read_text()}")
            time.sleep(0.1)
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "serving" in line and " at http://" in line:
                self.url = line.split(" at ", 1)[1].split()[0]

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """`sig` (SIGTERM, or SIGINT as Ctrl-C) by pid; wait; kill if it does not go. Returns the exit status."""
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, sig)
                try:
                    self.proc.wait(60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        finally:
            self._err.close()
        return self.proc.returncode

    def children(self) -> list[int]:
        """Live child processes of the agent (its measuring process)."""
        assert self.proc is not None
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if int(fields[1]) == self.proc.pid and fields[0] not in ("Z", "X"):
                    out.append(int(entry))
        return out

    def client(self, token: str = TOKEN, timeout_s: float = 300.0) -> AgentClient:
        return AgentClient(self.url, token, timeout_s=timeout_s)


@pytest.fixture(scope="module")
def agent_proc(tmp_path_factory):
    agent = AgentProcess(tmp_path_factory.mktemp("agent")).start()
    try:
        yield agent
    finally:
        assert agent.stop() == 0, agent.stderr()


def raw(url: str, method: str, headers: dict, data: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body else {}


@pytest.mark.slow
def test_real_agent_refuses_requests_without_the_token(agent_proc):
    assert agent_proc.url.startswith("http://127.0.0.1:")  # loopback by default
    wrong = {"Authorization": "Bearer not-the-token-0123456789"}
    for method, path in (("GET", "/v1/device"), ("POST", "/v1/measure"), ("POST", "/v1/measure/onnx"),
                         ("GET", "/"), ("GET", "/nothing/here"), ("PUT", "/v1/device")):
        for headers in ({}, wrong):
            status, body = raw(agent_proc.url + path, method, headers, b"{}" if method != "GET" else None)
            assert status == 401 and "unauthorized" in body["error"], (method, path, headers)
    with pytest.raises(AgentAuthError, match="401"):
        agent_proc.client("not-the-token-0123456789").describe()
    assert agent_proc.client("not-the-token-0123456789").available() is False
    log = agent_proc.stderr()
    assert log.count("unauthorized request from 127.0.0.1") >= 13
    assert "/nothing/here" in log and "wrong token" in log and "no Authorization header" in log
    assert TOKEN not in log and "not-the-token" not in log


@pytest.mark.slow
def test_real_agent_measures_a_small_network(agent_proc):
    client = agent_proc.client()
    assert client.available()
    device = client.describe()
    assert device.platform.name == "cpu" and device.runtime == "onnxruntime" and device.hostname
    assert "cpu" in device.platforms and device.repeats == 3
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(64)
    t = client.measure(spec)
    assert t.kind == "measured" and t.latency_ms > 0 and t.cv >= 0 and isinstance(t.noisy, bool)
    assert t.arch_id == spec.arch_id and t.resolution == 64 and t.batch == 1 and t.samples >= 3
    assert t.reference.name == "shufflenet_v2_x1_0" and t.reference.resolution == 64 and t.reference.latency_ms > 0
    assert t.reference.drift_ratio == pytest.approx(1.0) and t.device.hostname == device.hostname
    again = client.measure(spec)  # the reference of a minute ago is reused, not re-timed
    assert again.reference.measured_at == t.reference.measured_at and again.reference.age_s >= 0
    assert "measured shufflenet_v2_x0_5" in agent_proc.stderr()


@pytest.mark.slow
def test_real_agent_measures_an_onnx_file(agent_proc, tmp_path):
    pytest.importorskip("onnxruntime")
    import torch

    from latency_models.backends.onnx_export import export_onnx
    from search_space.build import build_model

    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(32)
    export_onnx(build_model(spec, form="inference", seed=0).eval(), torch.randn(1, 3, 32, 32), tmp_path / "m.onnx")
    client = agent_proc.client()
    t = client.measure_onnx(tmp_path / "m.onnx", (1, 3, 32, 32), name="tiny")
    assert t.kind == "measured" and t.latency_ms > 0 and t.name == "tiny" and t.reference.resolution == 32
    with pytest.raises(AgentRequestError) as err:
        client.measure_onnx(b"this is not an onnx file", (1, 3, 32, 32))
    assert err.value.status == 422 and "cannot measure" in str(err.value)


@pytest.mark.slow
def test_real_agent_limits_and_errors(agent_proc):
    status, body = raw(agent_proc.url + "/v1/measure", "POST", {**AUTH, "Content-Type": "application/json"},
                       b" " * ((1 << 20) + 10))
    assert status == 413 and "limit" in body["error"]
    client = agent_proc.client()
    with pytest.raises(AgentRequestError) as err:
        client.measure(reference_spec("shufflenet_v2_x0_5"), platform_name="arm")
    assert err.value.status == 400 and "arm" in str(err.value)
    assert client.available()  # still serving


@pytest.mark.slow
def test_real_agent_goes_away_and_comes_back(tmp_path):
    port = free_port()
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(32)
    agent = AgentProcess(tmp_path, "--platform", "cpu-torch", port=port).start()  # no ONNX export: quicker
    try:
        client = agent.client()
        assert client.measure(spec).latency_ms > 0
        workers = agent.children()
        assert workers  # the measuring process
    finally:
        assert agent.stop(signal.SIGINT) == 0, agent.stderr()  # Ctrl-C
    deadline = time.monotonic() + 20
    while any(pid_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(pid_alive(p) for p in workers)  # stopped with the agent
    assert client.available() is False
    with pytest.raises(AgentUnavailable):
        client.measure(spec)
    agent = AgentProcess(tmp_path, "--platform", "cpu-torch", port=port).start()
    try:
        assert client.available() is True
        assert client.measure(spec).latency_ms > 0
    finally:
        assert agent.stop() == 0, agent.stderr()
    assert "stopped" in agent.stderr()


@pytest.mark.slow
def test_the_measuring_process_is_stopped_past_the_time_limit():
    from latency_models.agent.worker import MeasurementTimeout, SubprocessMeasurer

    plat = builtin_platforms()["cpu-torch"]
    measurer = SubprocessMeasurer(plat)
    try:
        facts = measurer.start()
        assert facts["platforms"][0] == "cpu-torch" and facts["system"]["hostname"]
        first = measurer._proc
        job = {"op": "network", "spec_json": reference_spec("shufflenet_v2_x0_5").with_resolution(32).to_json(),
               "platform": plat.to_dict(), "warmup": 1, "repeats": 3}
        with pytest.raises(MeasurementTimeout):
            measurer.run({**job, "repeats": 100000}, timeout_s=0.5)
        assert not first.is_alive()  # killed, and a fresh process started for the next job
        out = measurer.run(job, timeout_s=120)
        assert out["ok"] and out["timing"]["latency_ms"] > 0 and out["timing"]["samples"] == 3
        bad = measurer.run({**job, "spec_json": "{}"}, timeout_s=120)
        assert not bad["ok"] and bad["user"] and "\n" not in bad["error"]
    finally:
        measurer.close()
    assert measurer._proc is None


def test_a_stop_signal_during_a_request_dispatch_stops_the_agent(monkeypatch):
    """The signal lands while the server starts a request's thread (seen once in a loaded test run: the stop was
    caught with the request's errors and the agent kept serving until killed); `serve` returns all the same. A
    watchdog signals again after WATCHDOG_S so that a regression fails instead of hanging."""
    import socketserver

    from latency_models.agent.server import AgentConfig, serve

    original = socketserver.ThreadingMixIn.process_request
    signalled: list[float] = []

    def dispatch_then_signal(self, request, client_address):
        if not signalled:
            signalled.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGTERM)  # delivered here, in the middle of the dispatch
        return original(self, request, client_address)

    monkeypatch.setattr(socketserver.ThreadingMixIn, "process_request", dispatch_then_signal)
    WATCHDOG_S = 20.0

    def request(url, device):
        def go():
            try:
                urllib.request.urlopen(f"{url}/v1/device", timeout=5).close()
            except OSError:
                pass
        threading.Thread(target=go, daemon=True).start()

    watchdog = threading.Timer(WATCHDOG_S, lambda: os.kill(os.getpid(), signal.SIGTERM))
    watchdog.start()
    try:
        serve(AgentConfig(CPU, TOKEN), on_ready=request, measurer=FakeMeasurer())
    finally:
        watchdog.cancel()
    assert signalled and time.monotonic() - signalled[0] < WATCHDOG_S / 2


@pytest.mark.slow
def test_sigint_stops_an_agent_started_with_sigint_ignored(tmp_path):
    """A background job of a non-interactive shell (`nas agent ... &`, nohup, CI) inherits SIGINT as ignored;
    the agent still stops on it (it hung until killed before)."""
    agent = AgentProcess(tmp_path, "--platform", "cpu-torch", ignore_sigint=True).start()
    try:
        assert agent.client().available()
    finally:
        code = agent.stop(signal.SIGINT)
    assert code == 0 and "stopped" in agent.stderr()
