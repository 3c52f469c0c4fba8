"""`nas agent` and `nas measure --agent`: one-line refusals, JSON end to end against a real agent process,
timings files that `nas latency fit` reads, the token kept out of files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from latency_models.agent.protocol import TOKEN_ENV
from latency_models.timings import load_timings, meta_path
from search_space.spec import spec_from_json
from tests.infra._proc import free_port
from tests.latency_models.test_agent import ROOT, TOKEN, AgentProcess
from tests.nas.cli.test_measure import run

pytest.importorskip("werkzeug")


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def agent_url(tmp_path_factory):
    agent = AgentProcess(tmp_path_factory.mktemp("cli-agent")).start()
    try:
        yield agent.url
    finally:
        assert agent.stop() == 0, agent.stderr()


# ------------------------------------------------------------------------------------------- nas agent
@pytest.mark.parametrize("args,env,words", [((), None, "no agent token"),
                                            (("--token", "short"), None, "too short"),
                                            ((), "tooshort", "too short")])
def test_agent_refuses_to_start_without_a_good_token(capsys, monkeypatch, args, env, words):
    if env is not None:
        monkeypatch.setenv(TOKEN_ENV, env)
    code, out, err = run(capsys, "agent", "--port", "0", *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and out == ""


def test_agent_options_reach_the_server(capsys, monkeypatch):
    import latency_models.agent.server as server

    seen = {}

    def fake_serve(config, on_ready=None, measurer=None):
        seen["config"] = config

    monkeypatch.setattr(server, "serve", fake_serve)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    code, out, err = run(capsys, "agent", "--port", "0", "--platform", "cpu-torch", "--threads", "2",
                         "--max-seconds", "30", "--max-onnx-mib", "8", "--repeats", "4")
    assert code == 0, err
    cfg = seen["config"]
    assert (cfg.platform.name, cfg.platform.threads, cfg.limits.max_seconds, cfg.limits.max_onnx_bytes,
            cfg.repeats, cfg.host, cfg.token) == ("cpu-torch", 2, 30.0, 8 << 20, 4, "127.0.0.1", TOKEN)
    assert "warning" not in err
    code, out, err = run(capsys, "agent", "--host", "device.example", "--port", "0")  # never bound: serve is faked
    assert code == 0 and "warning: listening on device.example, not loopback" in err
    assert seen["config"].host == "device.example"
    code, out, err = run(capsys, "agent", "--platform", "arm")
    assert code == 2 and "cannot be measured here" in err


def test_agent_on_a_port_in_use_is_one_line(capsys, monkeypatch):
    import socket

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "agent", "--port", str(port))
    assert code == 2 and err.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


# ----------------------------------------------------------------------------------- nas measure --agent
def test_the_token_is_redacted_from_recorded_command_lines():
    from nas.cli.measure import redacted_argv

    assert redacted_argv(["nas", "measure", "--token", "s3cret", "--token=abc", "--arch", "x"]) == \
        ["nas", "measure", "--token", "***", "--token=***", "--arch", "x"]


def test_measure_agent_refusals(capsys):
    port = free_port()
    code, out, err = run(capsys, "measure", "--agent", f"http://127.0.0.1:{port}", "--token", TOKEN,
                         "--arch", "shufflenet_v2_x0_5")
    assert code == 2 and "not reachable" in err and "connection refused" in err and len(err.splitlines()) == 1
    code, out, err = run(capsys, "measure", "--agent", f"http://127.0.0.1:{port}", "--arch", "shufflenet_v2_x0_5")
    assert code == 2 and "no agent token" in err and len(err.splitlines()) == 1
    code, out, err = run(capsys, "measure", "--agent", "ftp://x", "--token", TOKEN, "--arch", "shufflenet_v2_x0_5")
    assert code == 2 and "bad agent URL" in err
    code, out, err = run(capsys, "measure", "--agent", f"http://127.0.0.1:{port}", "--token", TOKEN, "--arch",
                         "shufflenet_v2_x0_5", "--units")
    assert code == 2 and "--units cannot be used with --agent" in err
    code, out, err = run(capsys, "measure", "--arch", "shufflenet_v2_x0_5")
    assert code == 2 and "--platform" in err and "--agent" in err
    code, out, err = run(capsys, "measure", "-p", "cpu", "--token", TOKEN, "--arch", "shufflenet_v2_x0_5")
    assert code == 2 and "--token is for --agent" in err


@pytest.mark.slow
def test_measure_through_the_agent_as_json(capsys, agent_url, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    code, out, err = run(capsys, "measure", "--agent", agent_url, "--arch", "shufflenet_v2_x0_5", "--resolution", "64",
                         "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["kind"] == "measured" and d["latency_ms"] > 0 and d["network"] == "shufflenet_v2_x0_5"
    assert d["resolution"] == 64 and d["platform"] == "cpu" and d["runtime"] == "onnxruntime" and d["agent"] == agent_url
    assert d["device"]["hostname"] and d["device"]["platform"]["threads"] == 1 and d["device"]["limits"]
    assert d["reference"]["name"] == "shufflenet_v2_x1_0" and d["reference"]["latency_ms"] > 0
    assert d["reference"]["resolution"] == 64


@pytest.mark.slow
def test_wrong_token_is_one_line_and_exit_2(agent_url):
    proc = subprocess.run([sys.executable, "-m", "nas.cli.main", "measure", "--agent", agent_url, "--token",
                           "not-the-right-token-000", "--arch", "shufflenet_v2_x0_5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "refused the token (401" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_agent_timings_feed_latency_fit(capsys, agent_url, in_tmp, monkeypatch):
    from latency_models.fitting import fit_from_timings

    out_file = in_tmp / "agent.csv"
    args = ["measure", "--agent", agent_url, "--token", TOKEN, "--sample", "10", "--seed", "3", "--resolution", "32",
            "--out", str(out_file), "--json"]
    monkeypatch.setattr(sys, "argv", ["nas", *args])  # the command line recorded in the metadata
    code, out, err = run(capsys, *args)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["kind"] == "timings" and summary["networks"] == 10
    code, out, err = run(capsys, "measure", "--agent", agent_url, "--token", TOKEN, "--arch", "shufflenet_v2_x0_5",
                         "--resolution", "32", "--out", str(out_file), "--append")
    assert code == 0, err
    t = load_timings(out_file)
    nets = t.networks()
    assert (nets["role"] == "sample").sum() == 11
    refs = nets[nets["role"] == "drift_ref"]  # the reference timed beside them, one row per reference timing
    assert len(refs) >= 1 and set(refs["name"]) == {"shufflenet_v2_x1_0"} and set(refs["resolution"]) == {32}
    assert len(t) in (summary["rows"] + 1, summary["rows"] + 2)
    assert t.meta.platform.name == "cpu" and t.meta.settings["agent"] == agent_url
    assert t.meta.hostname == summary["device"]["hostname"]
    text = meta_path(out_file).read_text() + out_file.read_text()
    assert TOKEN not in text
    assert "--token *** --sample 10" in json.loads(meta_path(out_file).read_text())["settings"]["command"]
    profile = fit_from_timings("my-agent-device", [out_file])
    assert profile.platform.name == "my-agent-device" and profile.platform.runtime == "onnxruntime"
    spec = spec_from_json(nets["spec_json"].iloc[0])
    assert profile.estimate(spec).latency_ms > 0
