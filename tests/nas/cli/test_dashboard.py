"""`nas report` and `nas dashboard` through nas.cli.main.main: output, and bad input as one line with exit 2."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from nas.cli.main import main
from tests.nas.views.dashboard.synthetic import make_study
from tests.nas.views.dashboard.test_data import sha


@pytest.fixture(scope="module")
def study_db(tmp_path_factory) -> str:
    return make_study(Path(tmp_path_factory.mktemp("cli-dash")) / "s.db")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err


def test_report_writes_one_file(study_db, tmp_path, capsys):
    before = sha(study_db)
    out = tmp_path / "report.html"
    code, stdout, err = run(capsys, "report", "--storage", study_db, "--out", str(out))
    assert code == 0, err
    assert out.is_file() and "written to" in stdout
    assert "synthetic" in out.read_text()
    code, stdout, err = run(capsys, "report", "--storage", study_db, "--study", "synthetic", "--out", str(out),
                            "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["report"] == str(out) and res["best_trial"] == 2 and res["trials"]["pareto"] == 2
    assert sha(study_db) == before


def test_report_bad_inputs(study_db, tmp_path, capsys):
    before = sha(study_db)
    out = str(tmp_path / "r.html")
    assert "no study 'nope'" in one_line_error(capsys, "report", "--storage", study_db, "--study", "nope",
                                               "--out", out)
    assert "no study storage" in one_line_error(capsys, "report", "--storage", str(tmp_path / "x.db"),
                                                "--out", out)
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite " * 50)
    assert "cannot open storage" in one_line_error(capsys, "report", "--storage", str(junk), "--out", out)
    assert "does not exist" in one_line_error(capsys, "report", "--storage", study_db, "--out",
                                              str(tmp_path / "no" / "r.html"))
    assert "is a folder" in one_line_error(capsys, "report", "--storage", study_db, "--out", str(tmp_path))
    one_line_error(capsys, "report", "--storage", study_db)  # --out is required
    assert sha(study_db) == before and not Path(out).exists()


def test_report_of_a_study_not_made_by_search(tmp_path, capsys):
    import optuna

    db = tmp_path / "plain.db"
    optuna.create_study(storage=f"sqlite:///{db}", study_name="plain")
    assert "not made by `nas search`" in one_line_error(capsys, "report", "--storage", str(db), "--out",
                                                        str(tmp_path / "r.html"))


def test_dashboard_bad_inputs(study_db, tmp_path, capsys):
    before = sha(study_db)
    assert "no study 'nope'" in one_line_error(capsys, "dashboard", "--storage", study_db, "--study", "nope")
    assert "no study storage" in one_line_error(capsys, "dashboard", "--storage", str(tmp_path / "x.db"))
    assert "bad --port" in one_line_error(capsys, "dashboard", "--storage", study_db, "--port", "70000")
    assert "bad --interval" in one_line_error(capsys, "dashboard", "--storage", study_db, "--interval", "0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        err = one_line_error(capsys, "dashboard", "--storage", study_db, "--port", str(s.getsockname()[1]))
        assert "cannot listen" in err
    assert sha(study_db) == before


def test_help_lists_the_commands(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    assert "dashboard" in out and "report" in out
    main(["dashboard", "--help"])
    out = capsys.readouterr().out
    assert "127.0.0.1" in out and "read-only" in out


def test_dashboard_command_serves_on_loopback(study_db, tmp_path):
    """The real console command: it says where it listens, serves the page on 127.0.0.1, stops on a signal."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = sha(study_db)
    proc = subprocess.Popen([sys.executable, "-c", "from nas.cli.main import run; run()", "dashboard", "--storage",
                             study_db, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "NAS_HOME": str(tmp_path / "home")})
    try:
        page = None
        for _ in range(300):
            if proc.poll() is not None:
                break
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert page is not None and "<title>nas dashboard</title>" in page, proc.stderr.read() if proc.poll() else ""
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert f"at http://127.0.0.1:{port}/" in out and "read-only" in out
    assert sha(study_db) == before
