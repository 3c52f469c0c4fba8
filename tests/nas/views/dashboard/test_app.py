"""nas.views.dashboard.app: the Dash app over a storage (HTTP, no browser) and, marked `browser`, in headless chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from nas.views.dashboard.app import (DashboardError, StudySource, detail_children, make_app, serve, start_source,
                               table_records)
from nas.views.dashboard.data import load_study_data
from nas.search.storage import StorageError
from search_space.spec import spec_from_json
from tests.nas.views.dashboard.synthetic import TRIALS, make_study
from tests.nas.views.dashboard.test_data import sha

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")


@contextmanager
def running(app):
    """Serve `app` on a free port of 127.0.0.1 in a thread; yields its URL."""
    servers: list = []
    thread = threading.Thread(target=serve, args=(app, "127.0.0.1", 0), kwargs={"ready": servers.append},
                              daemon=True)
    thread.start()
    for _ in range(200):
        if servers:
            break
        time.sleep(0.05)
    assert servers, "the dashboard did not start"
    try:
        yield f"http://127.0.0.1:{servers[0].server_port}/"
    finally:
        servers[0].shutdown()
        thread.join(10)


def test_source_reads_once_per_change(synthetic_db):
    source = StudySource(synthetic_db)
    assert source.names() == ["synthetic"]
    a, b = source.data("synthetic"), source.data("synthetic")
    assert a is b  # nothing changed: the cached view
    with pytest.raises(StorageError, match="no study"):
        source.data("other")


def test_table_and_detail_components(synthetic_data):
    recs = table_records(synthetic_data)
    assert [r["id"] for r in recs] == sorted(TRIALS, reverse=True)
    assert {r["within_budget"] for r in recs} <= {"yes", "no", "-"}
    json.dumps(recs)
    source_detail = detail_children(None)
    assert "click a point" in str(source_detail[0].children)


def test_app_serves_its_page_and_layout(synthetic_db):
    before = sha(synthetic_db)
    app = make_app(start_source(synthetic_db, None), None, interval_s=1.0)
    client = app.server.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"<title>nas dashboard</title>" in page.data
    assert b"cdn" not in page.data.lower()  # Dash serves its scripts itself
    layout = client.get("/_dash-layout").get_json()
    text = json.dumps(layout)
    for cid in ('"pareto"', '"hypervolume"', '"table"', '"detail"', '"predictor"', '"tick"'):
        assert cid in text
    assert '"sort_action": "native"' in text and '"filter_action": "native"' in text
    assert sha(synthetic_db) == before


def test_start_source_errors(tmp_path, synthetic_db):
    with pytest.raises(StorageError, match="no study 'nope'"):
        start_source(synthetic_db, "nope")
    with pytest.raises(StorageError, match="no study storage"):
        start_source(str(tmp_path / "none.db"), None)
    empty = tmp_path / "empty.db"
    make_study(empty, "x", extra_trials=False)
    import optuna

    optuna.delete_study(study_name="x", storage=f"sqlite:///{empty}")
    with pytest.raises(DashboardError, match="holds no study"):
        start_source(str(empty), None)


def test_a_taken_port_is_one_line(synthetic_db):
    app = make_app(start_source(synthetic_db, None), None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        with pytest.raises(DashboardError, match="cannot listen on 127.0.0.1"):
            serve(app, "127.0.0.1", s.getsockname()[1])


# ------------------------------------------------------------------------------------------------ browser
INJECTED = '<b>x</b><script>window.__pwned=1</script>'


@pytest.fixture
def browser(monkeypatch):
    """Headless chromium driven by selenium through the system's chromedriver (no download, no network)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never fetch a driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="nas-chromium-")
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


PARETO_JS = "var g=document.querySelector('#pareto .js-plotly-plot');"
#: Trial numbers of the points in the upper (value vs latency) panel of the Pareto plot.
SHOWN_JS = (PARETO_JS + "var out=[]; g.data.forEach(function(t){ if (t.yaxis==='y2' || !t.customdata) return;"
            "t.customdata.forEach(function(c){ out.push(c[0]); }); }); return out;")


def pixel_of(driver, x: float, y: float) -> tuple[float, float]:
    """Page pixel of a data point of the Pareto panel (log or linear y)."""
    return tuple(driver.execute_script(
        PARETO_JS + "var fl=g._fullLayout, r=g.getBoundingClientRect();"
        "return [r.left + fl.xaxis._offset + fl.xaxis.d2p(arguments[0]),"
        "        r.top + fl.yaxis._offset + fl.yaxis.d2p(arguments[1])];", x, y))


def click_at(driver, x: float, y: float) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionChains(driver)
    builder = ActionBuilder(driver)
    builder.pointer_action.move_to_location(int(x), int(y))
    builder.pointer_action.click()
    builder.perform()
    actions.reset_actions()


def stages_text(spec_json: str) -> str:
    spec = spec_from_json(spec_json)
    return ", ".join(f"stage{i + 2}: {st.width} ch × {st.depth}" for i, st in enumerate(spec.stages))


@pytest.mark.browser
def test_dashboard_in_a_browser(browser, tiny_idx_dir, tmp_path, nas_home, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from nas.cli.main import main

    db = tmp_path / "search.db"
    code = main(["search", "--platform", "arm", "--budget", "30ms", "--evaluator", "synflow", "--trials", "6",
                 "--workers", "1", "--dataset", f"fashion-mnist:{tiny_idx_dir}", "--train-examples", "100",
                 "--val-examples", "50", "--timeout", "0", "--storage", str(db), "--study-name", INJECTED,
                 "--seed", "3", "--json"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    data = load_study_data(str(db), INJECTED)
    evaluated = data.evaluated()
    assert len(evaluated) >= 2
    before = sha(db)
    app = make_app(start_source(str(db), INJECTED), INJECTED, interval_s=1.0)
    with running(app) as url:
        browser.get(url)
        wait = WebDriverWait(browser, 40)
        wait.until(lambda d: d.execute_script(PARETO_JS + "return !!(g && g.data && g.data.length)"))
        # the Pareto panel holds exactly the study's evaluated trials and the references it evaluated (same
        # evaluator, same accuracy axis), as SVG markers too
        shown = browser.execute_script(SHOWN_JS)
        scored_refs = [p.trial for p in data.references if p.value is not None]
        assert scored_refs, "the study evaluated no reference network"
        assert sorted(set(shown)) == sorted([r.number for r in evaluated] + scored_refs)
        markers = browser.find_elements(By.CSS_SELECTOR, "#pareto .subplot.xy .scatterlayer path.point")
        assert len(markers) >= len(evaluated)
        # the study name is shown as text, never run as HTML
        assert browser.execute_script("return window.__pwned") is None
        assert browser.find_element(By.ID, "study-name").text == INJECTED
        # the best trial is shown first
        best = data.best()
        wait.until(lambda d: d.find_elements(By.ID, "detail-arch-id"))
        assert browser.find_element(By.ID, "detail-arch-id").text == best.arch_id
        shots = os.environ.get("NAS_DASHBOARD_SCREENSHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(Path(shots) / "browser-test-pareto.png"))
        # click a point of the plot: its architecture appears
        pix = {r.number: pixel_of(browser, r.latency_ms, r.value) for r in evaluated}

        def isolated(n: int) -> bool:
            return all((pix[n][0] - p[0]) ** 2 + (pix[n][1] - p[1]) ** 2 > 15 ** 2 for m, p in pix.items() if m != n)

        target = next(r for r in evaluated if r.number != best.number and isolated(r.number))
        click_at(browser, *pix[target.number])
        wait.until(lambda d: d.find_element(By.ID, "detail-arch-id").text == target.arch_id)
        assert browser.find_element(By.ID, "detail-stages").text == stages_text(target.spec)
        assert f"--trial {target.number} " in browser.find_element(By.ID, "export-command").text
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#arch-graph .heatmaplayer, #arch-graph image"))
        # click a row of the table (newest first, 12 a page: one on the first page): its architecture appears
        on_page = {c.text.strip() for c in browser.find_elements(
            By.XPATH, "//div[@id='table']//td[@data-dash-column='number']")}
        row = next(r for r in evaluated if r.number != target.number and str(r.number) in on_page)
        cell = browser.find_element(By.XPATH, f"//div[@id='table']//tr[td[@data-dash-column='number']"
                                              f"[normalize-space()='{row.number}']]/td[@data-dash-column='arch_id']")
        cell.click()
        wait.until(lambda d: d.find_element(By.ID, "detail-arch-id").text == row.arch_id)
        assert browser.find_element(By.ID, "detail-stages").text == stages_text(row.spec)
        assert sha(db) == before  # the dashboard wrote nothing
        # a search adds a trial: the open page shows it at the next poll, without a reload
        import optuna

        study = optuna.load_study(study_name=INJECTED, storage=f"sqlite:///{db}")
        src = study.trials[best.number]
        study.add_trial(optuna.trial.create_trial(values=[src.values[0] * 2], user_attrs=dict(src.user_attrs)))
        new = len(study.trials) - 1
        wait.until(lambda d: new in d.execute_script(SHOWN_JS))
        counts = load_study_data(str(db), INJECTED).counts
        assert counts["pareto"] >= 1
        expected = " · ".join(f"{n} {c}" for c, n in counts.items() if n)
        wait.until(lambda d: expected in d.find_element(By.ID, "counts").text)
