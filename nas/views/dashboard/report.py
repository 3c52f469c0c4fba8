"""A study as ONE self-contained HTML file (plotly.js embedded, no network): Pareto front with budget and
references, hypervolume, trial table, and the best trial's architecture and latency breakdown.

Every string from the study is escaped with html.escape; figures escape their own labels (figures.esc).
"""

from __future__ import annotations

import os
import tempfile
from html import escape
from pathlib import Path
from typing import Any

from latency_models.profiles import Profile
from nas.views.dashboard import figures
from nas.views.dashboard.data import StudyData, TrialRow, budget_words, load_profile
from nas.views.dashboard.detail import TrialDetail, trial_detail
from search_space.errors import UserError


class ReportError(UserError):
    """The report cannot be written where asked."""


#: Trial table columns: (header, function of a row -> cell text).
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("trial", lambda r: str(r.number)),
    ("category", lambda r: r.category),
    ("arch_id", lambda r: r.arch_id),
    ("value", lambda r: figures.value_text(r.value)),
    ("latency ms", lambda r: "-" if r.latency_ms is None else f"{r.latency_ms:.2f}"),
    ("latency kind", lambda r: r.latency_kind),
    ("predicted ms", lambda r: "-" if r.predicted_ms is None else f"{r.predicted_ms:.2f}"),
    ("measured ms", lambda r: "-" if r.measured_ms is None else f"{r.measured_ms:.2f}"),
    ("MFLOPs", lambda r: "-" if r.flops_m is None else f"{r.flops_m:.1f}"),
    ("params M", lambda r: "-" if r.params_m is None else f"{r.params_m:.3f}"),
    ("MAC M", lambda r: "-" if r.mac_m is None else f"{r.mac_m:.2f}"),
    ("note", lambda r: r.note),
)

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:13px;line-height:1.6} table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right} th{background:#f3f3f3;cursor:pointer}
td.t,th.t{text-align:left} code,pre{background:#f5f5f5;padding:2px 4px;border-radius:3px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px} .warn{color:#b03a2e} .info{color:#555}
"""

_SCRIPT = """
function sortTable(t,c){var b=t.tBodies[0],rows=Array.from(b.rows),asc=t.dataset.col==c&&t.dataset.dir!='asc';
rows.sort(function(x,y){var p=x.cells[c].textContent,q=y.cells[c].textContent,a=parseFloat(p),d=parseFloat(q);
var r=(!isNaN(a)&&!isNaN(d))?a-d:p.localeCompare(q);return asc?r:-r});
rows.forEach(function(r){b.appendChild(r)});t.dataset.col=c;t.dataset.dir=asc?'asc':'desc'}
function filterTable(t,q){q=q.toLowerCase();Array.from(t.tBodies[0].rows).forEach(function(r){
r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none'})}
"""


def _fig_html(fig: Any, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False, "responsive": True})


def trial_table_html(rows: tuple[TrialRow, ...]) -> str:
    """A sortable, filterable HTML table of every trial (cells escaped)."""
    head = "".join(f'<th class="{"t" if name in ("category", "arch_id", "latency kind", "note") else ""}" '
                   f'onclick="sortTable(this.closest(\'table\'),{i})">{escape(name)}</th>'
                   for i, (name, _) in enumerate(COLUMNS))
    body = []
    for r in rows:
        cells = "".join(f'<td class="{"t" if name in ("category", "arch_id", "latency kind", "note") else ""}">'
                        f"{escape(fn(r))}</td>" for name, fn in COLUMNS)
        body.append(f"<tr>{cells}</tr>")
    return ('<input type="search" placeholder="filter trials" oninput="filterTable(document.getElementById('
            '\'trials\'),this.value)" style="margin-bottom:6px;width:260px">'
            f'<table id="trials"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def detail_html(detail: TrialDetail) -> str:
    """Cost figures, guideline findings and the export command of one trial, as escaped HTML."""
    c = detail.cost
    cost = (f"{c.get('flops_m', 0):.1f} MFLOPs · {c.get('params_m', 0):.3f} M params · {c.get('mac_m', 0):.2f} M "
            f"MAC · {c.get('fragments', 0)} fragments" if c else escape(detail.spec_error))
    stages = ", ".join(f"{escape(s['stage'])}: {s['width']} ch × {s['units']}" for s in detail.stages)
    items = "".join(f'<li class="{escape(f["severity"])}">{escape(f["guideline"])} {escape(f["severity"])} '
                    f'({escape(f["block"])}): {escape(f["message"])}</li>' for f in detail.findings)
    summary = ", ".join(f"{g}: {v.get('warn', 0)} warn / {v.get('info', 0)} info"
                        for g, v in detail.lint_summary.items())
    r = detail.row
    return (f'<p class="meta">trial {r.number} · <code>{escape(r.arch_id)}</code> · {escape(figures.latency_text(r))}'
            f" on {escape(r.platform)} ({escape(r.runtime)})<br>{cost}<br>stages: {stages}</p>"
            f"<p><b>Guideline findings</b> (G1-G4 of the paper): {escape(summary)}</p>"
            f"<ul style='font-size:12px'>{items or '<li>none</li>'}</ul>"
            f"<p><b>Export</b>: <code>{escape(detail.export_command)}</code> (freshly initialised weights unless "
            f"you add --weights from <code>nas train --trial {r.number}</code>: a search keeps no weights)</p>")


def report_html(data: StudyData, profile: Profile | None) -> str:
    """The whole report page as a string."""
    cfg = data.config
    counts = ", ".join(f"{v} {escape(k)}" for k, v in data.counts.items() if v)
    best = data.best()
    parts = [_fig_html(figures.pareto_figure(data, best.number if best else None), True),
             "<h2>Hypervolume over trials</h2>", _fig_html(figures.hypervolume_figure(data), False),
             "<h2>Trials</h2>", trial_table_html(data.rows)]
    if best is not None:
        detail = trial_detail(data, best.number, profile)
        parts += [f"<h2>Best within {escape(cfg.budget.label())}: trial {best.number}</h2>", '<div class="grid"><div>',
                  _fig_html(figures.architecture_figure(detail), False), "</div><div>",
                  _fig_html(figures.breakdown_figure(detail), False), "</div></div>",
                  detail_html(detail) if detail else ""]
    else:
        parts.append(f"<h2>Best</h2><p>no evaluated architecture is within {escape(cfg.budget.label())} yet</p>")
    if any(r.measured_ms is not None for r in data.rows):
        parts += ["<h2>Predictor quality</h2>", _fig_html(figures.predictor_figure(data), False)]
    profile_line = escape(data.profile.label()) if data.profile else escape(data.profile_note)
    header = (f"<h1>Search report: {escape(data.study)}</h1><div class='meta'>storage {escape(data.storage)} · "
              f"platform {escape(cfg.platform)} · {budget_words(cfg)} · objective {escape(cfg.objective)} · "
              f"evaluator {escape(cfg.evaluator)} on {escape(cfg.dataset)} at {cfg.proxy_resolution}px (proxy task) · "
              f"latency at {cfg.resolution}px<br>trials: {counts or 'none'} · value: {escape(data.metric)}"
              f"<br>latency labels: each trial says measured or predicted; references are {profile_line}"
              f"<br>generated {escape(data.loaded_at)}</div>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>nas report: {escape(data.study)}</title><style>{_STYLE}</style><script>{_SCRIPT}</script>"
            f"</head><body>{header}{''.join(parts)}</body></html>")


def write_report(data: StudyData, out: str | Path, profile: Profile | None = None) -> Path:
    """Write the report atomically to `out` (ReportError, one line, when it cannot be written)."""
    path = Path(out)
    if path.is_dir():
        raise ReportError(f"--out {path} is a folder; give a file name such as report.html")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ReportError(f"cannot write {path}: folder {parent} does not exist")
    if profile is None and data.profile is not None:
        profile, _ = load_profile(data.config.platform)
    text = report_html(data, profile)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
