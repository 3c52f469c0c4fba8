"""The Dash app of `nas dashboard`: polls a study storage (read-only) and shows the Pareto front with budget and
reference networks, hypervolume over trials, a trial table, and the selected trial's architecture, cost,
guideline findings, latency by stage and export command.

Dash components escape their text; figures escape study strings themselves (figures.esc).
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from typing import Any

from latency_models.profiles import Profile
from nas.views.dashboard import figures
from nas.views.dashboard.data import (CATEGORIES, StudyData, budget_words, load_profile, signature_of,
                                     spec_json_pretty, study_data)
from nas.views.dashboard.detail import TrialDetail, trial_detail
from nas.search.storage import display_storage, open_read_only
from nas.search.study import open_study, study_names
from search_space.errors import UserError

DEFAULT_INTERVAL_S = 3.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")

#: Trial table columns: (id, header, numeric format: None = text, "f2" = 2 decimals, "g" = accuracy or score).
TABLE_COLUMNS = (("number", "trial", "d"), ("category", "category", None), ("arch_id", "arch_id", None),
                 ("value", "value", "g"), ("latency_ms", "latency ms", "f2"), ("latency_kind", "kind", None),
                 ("predicted_ms", "predicted ms", "f2"), ("measured_ms", "measured ms", "f2"),
                 ("within_budget", "within budget", None), ("flops_m", "MFLOPs", "f1"),
                 ("params_m", "params M", "f3"), ("mac_m", "MAC M", "f2"), ("fragments", "fragments", "d"),
                 ("note", "note", None))


class DashboardError(UserError):
    """The dashboard cannot start (e.g. the port is taken)."""


def require_dash() -> Any:
    """The dash module, or a one-line error saying how to install it."""
    try:
        import dash
    except ImportError:
        raise DashboardError("the dashboard needs dash and plotly: pip install 'shufflenas[full]'") from None
    return dash


class StudySource:
    """Reads studies from one storage, read-only, re-reading a study only when it changed (thread-safe)."""

    def __init__(self, storage: str | None):
        self.storage = storage
        self.label = display_storage(storage)
        self.store = open_read_only(storage)
        self._lock = threading.Lock()
        self._cache: dict[str, StudyData] = {}
        self._profiles: dict[str, tuple[Profile | None, str]] = {}

    def names(self) -> list[str]:
        with self._lock:
            return study_names(self.store)

    def profile(self, platform: str) -> tuple[Profile | None, str]:
        if platform not in self._profiles:
            self._profiles[platform] = load_profile(platform)
        return self._profiles[platform]

    def data(self, study_name: str | None) -> StudyData:
        """The study's current data (UserError when it is gone or was not made by `nas search`)."""
        from nas.search.study import stored_config

        with self._lock:
            study = open_study(self.store, study_name)
            cached = self._cache.get(study.study_name)
            sig = signature_of(study.get_trials(deepcopy=False), study)
            if cached is not None and cached.signature == sig:
                return cached
            profile, note = self.profile(stored_config(study).platform)
            data = study_data(study, self.label, profile, note)
            self._cache[study.study_name] = data
            return data

    def detail(self, data: StudyData, number: int) -> TrialDetail | None:
        profile, _ = self.profile(data.config.platform)
        return trial_detail(data, number, profile)


def table_columns() -> list[dict[str, Any]]:
    from dash.dash_table.Format import Format, Scheme

    cols = []
    for cid, name, fmt in TABLE_COLUMNS:
        col: dict[str, Any] = {"id": cid, "name": name}
        if fmt:
            col["type"] = "numeric"
            scheme = {"d": Format(precision=0, scheme=Scheme.fixed), "g": Format(precision=4,
                      scheme=Scheme.decimal_or_exponent)}.get(fmt) or Format(precision=int(fmt[1]),
                                                                              scheme=Scheme.fixed)
            col["format"] = scheme
        cols.append(col)
    return cols


def table_records(data: StudyData) -> list[dict[str, Any]]:
    """Table rows (latest trial first); `id` is the trial number, so a clicked cell names its trial."""
    out = []
    for r in sorted(data.rows, key=lambda r: -r.number):
        rec = r.to_record()
        rec["within_budget"] = {True: "yes", False: "no", None: "-"}[r.within_budget]
        out.append({k: rec.get(k) for k in [c[0] for c in TABLE_COLUMNS] + ["id"]})
    return out


def header_children(data: StudyData) -> list[Any]:
    from dash import html

    cfg = data.config
    counts = " · ".join(f"{n} {c}" for c, n in data.counts.items() if n)
    lat = data.profile.label() if data.profile else data.profile_note
    return [html.Div([html.B("study "), html.Span(data.study, id="study-name"), f" · storage {data.storage}"]),
            html.Div(f"platform {cfg.platform} · {budget_words(cfg)} · objective {cfg.objective} · "
                     f"evaluator {cfg.evaluator} on {cfg.dataset} at {cfg.proxy_resolution}px (proxy task) · "
                     f"latency at {cfg.resolution}px"),
            html.Div(f"trials: {counts or 'none yet'} · value: {data.metric} · updated {data.loaded_at}",
                     id="counts"),
            html.Div(f"latency: each trial is labelled measured or predicted (with the predictor's error); "
                     f"references: {lat}", className="note")]


def detail_children(detail: TrialDetail | None) -> list[Any]:
    """The architecture view of one trial."""
    from dash import dcc, html

    if detail is None:
        return [html.P("click a point of the Pareto plot or a row of the table to see its architecture")]
    r = detail.row
    c = detail.cost
    cost = (f"{c['flops_m']:.1f} MFLOPs · {c['params_m']:.3f} M params · {c['mac_m']:.2f} M MAC · "
            f"{c['fragments']} fragments" if c else detail.spec_error)
    lat = figures.latency_text(r) + (f" on {r.platform} ({r.runtime})" if r.platform else "")
    if r.measured_ms is not None and r.predicted_ms:
        lat += f" · measured vs predicted: {(r.predicted_ms - r.measured_ms) / r.measured_ms * 100:+.1f}%"
    stage_rows = [html.Tr([html.Th(h) for h in ("stage", "width", "units", "stride", "MFLOPs", "M MAC", "ms pred.")])]
    for s in detail.stages:
        cs = detail.cost_by_stage.get(s["stage"], {})
        ms = (detail.breakdown_ms or {}).get(s["stage"])
        stage_rows.append(html.Tr([html.Td(s["stage"]), html.Td(s["width"]), html.Td(s["units"]),
                                   html.Td(s["stride"]), html.Td(f"{cs.get('flops_m', 0):.1f}"),
                                   html.Td(f"{cs.get('mac_m', 0):.2f}"),
                                   html.Td("-" if ms is None else f"{ms:.2f}")]))
    summary = " · ".join(f"{g}: {v.get('warn', 0)} warn, {v.get('info', 0)} info"
                         for g, v in detail.lint_summary.items())
    findings = [html.Li(f"{f['guideline']} {f['severity']} ({f['block']}): {f['message']}", className=f["severity"])
                for f in detail.findings[:40]]
    if len(detail.findings) > 40:
        findings.append(html.Li(f"... {len(detail.findings) - 40} more"))
    stages_text = ", ".join(f"{s['stage']}: {s['width']} ch × {s['units']}" for s in detail.stages)
    return [
        html.H3([f"trial {r.number} · ", html.Code(r.arch_id, id="detail-arch-id"), f" · {r.category}"],
                id="detail-title"),
        html.Div(stages_text, id="detail-stages", className="note"),
        html.Div([dcc.Graph(id="arch-graph", figure=figures.architecture_figure(detail),
                            config={"displaylogo": False}, style={"flex": "3"}),
                  dcc.Graph(id="breakdown-graph", figure=figures.breakdown_figure(detail),
                            config={"displaylogo": False}, style={"flex": "2"})], className="row"),
        html.Div([
            html.Div([html.H4("Cost"), html.P(cost), html.P(lat), html.Table(stage_rows, className="small")],
                     style={"flex": "1"}),
            html.Div([html.H4("Guideline findings (G1-G4)"), html.P(summary, className="note"),
                      html.Ul(findings or [html.Li("none")], className="small")], style={"flex": "1"}),
        ], className="row"),
        html.Div([html.H4("Export"), html.Pre(detail.export_command, id="export-command"),
                  html.P("writes the ONNX model with the architecture JSON and its metadata. A search keeps no "
                         "weights: without --weights the model is freshly initialised; train it first with "
                         f"`nas train --trial {r.number}` (same --storage / --study) and pass --weights.",
                         className="note")]),
        html.Details([html.Summary("architecture JSON"), html.Pre(spec_json_pretty(r.spec), className="small")]),
    ]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#222}
.row{display:flex;gap:12px;flex-wrap:wrap} .note{color:#555;font-size:13px} .small{font-size:12px}
.warn{color:#b03a2e} .info{color:#555} pre{background:#f5f5f5;padding:6px;white-space:pre-wrap}
table.small td,table.small th{border:1px solid #ddd;padding:2px 6px;text-align:right} h3{margin:18px 0 4px}
#header{font-size:14px;line-height:1.6;margin-bottom:8px}
"""


def make_app(source: StudySource, study_name: str | None, interval_s: float = DEFAULT_INTERVAL_S) -> Any:
    """The Dash app over `source`; `study_name` is the study shown first (None: the only or the latest one)."""
    dash = require_dash()
    from dash import Input, Output, State, ctx, dash_table, dcc, html

    names = source.names()
    first = study_name or (names[-1] if names else None)
    app = dash.Dash(__name__, title="nas dashboard", update_title=None, serve_locally=True,
                    include_assets_files=False, enable_mcp=False)
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + _CSS + "</style>")
    table_style = [{"if": {"filter_query": f'{{category}} = "{cat}"', "column_id": "category"},
                    "color": figures.COLORS.get(cat, "#555"), "fontWeight": "bold"}
                   for cat in CATEGORIES if cat in figures.COLORS]
    with warnings.catch_warnings():  # DataTable still works; its deprecation notice is for Dash's next major
        warnings.simplefilter("ignore", DeprecationWarning)
        table = dash_table.DataTable(id="table", columns=table_columns(), data=[], sort_action="native",
                                     filter_action="native", page_size=12, style_table={"overflowX": "auto"},
                                     style_cell={"fontSize": 12, "padding": "3px 6px", "fontFamily": "monospace"},
                                     style_data_conditional=table_style)
    app.layout = html.Div([
        html.H2("nas dashboard", style={"margin": "0 0 6px"}),
        html.Div([html.Span("study: "), dcc.Dropdown(id="study", options=[{"label": n, "value": n} for n in names],
                                                      value=first, clearable=False, style={"width": "520px"})],
                 style={"display": "flex", "alignItems": "center", "gap": "8px"}),
        html.Div(id="header"),
        dcc.Interval(id="tick", interval=int(interval_s * 1000)),
        dcc.Store(id="selected"), dcc.Store(id="sig"),
        html.Div([dcc.Graph(id="pareto", config={"displaylogo": False}, style={"flex": "3", "minWidth": "600px"}),
                  dcc.Graph(id="hypervolume", config={"displaylogo": False},
                            style={"flex": "2", "minWidth": "380px"})], className="row"),
        html.H3("Trials"),
        table,
        html.Div(id="detail"),
        html.H3("Predictor quality"),
        dcc.Graph(id="predictor", config={"displaylogo": False}),
    ])

    def safe_data(name: str | None) -> StudyData | str:
        try:
            return source.data(name)
        except UserError as exc:
            return str(exc)

    @app.callback(Output("pareto", "figure"), Output("hypervolume", "figure"), Output("table", "data"),
                  Output("header", "children"), Output("predictor", "figure"), Output("sig", "data"),
                  Output("study", "options"),
                  Input("tick", "n_intervals"), Input("study", "value"), Input("selected", "data"),
                  State("sig", "data"), State("study", "options"))
    def refresh(_n: Any, name: str | None, selected: Any, sig: Any, old: Any) -> tuple[Any, ...]:
        keep = dash.no_update
        data = safe_data(name)
        options = [{"label": n, "value": n} for n in source.names()]
        options = keep if options == old else options
        if isinstance(data, str):
            blank = figures.empty_figure(data)
            return blank, blank, [], [html.Div(data, className="warn")], blank, None, options
        key = f"{data.study}|{data.signature}"
        if ctx.triggered_id == "tick" and sig == key:
            return (keep,) * 6 + (options,)
        sel = selected.get("number") if isinstance(selected, dict) and selected.get("study") == data.study else None
        if sel is None and data.best() is not None:
            sel = data.best().number
        pareto = figures.pareto_figure(data, sel)
        if ctx.triggered_id == "selected" and sig == key:  # only the highlight moves
            return (pareto,) + (keep,) * 5 + (options,)
        return (pareto, figures.hypervolume_figure(data, height=640), table_records(data), header_children(data),
                figures.predictor_figure(data), key, options)

    @app.callback(Output("selected", "data"), Input("pareto", "clickData"), Input("table", "active_cell"),
                  Input("predictor", "clickData"), State("study", "value"), prevent_initial_call=True)
    def select(click: Any, cell: Any, pclick: Any, name: str | None) -> Any:
        number = None
        if ctx.triggered_id in ("pareto", "predictor"):
            ev = click if ctx.triggered_id == "pareto" else pclick
            points = (ev or {}).get("points") or []
            custom = points[0].get("customdata") if points else None
            number = custom[0] if isinstance(custom, list) and custom else None
        elif ctx.triggered_id == "table" and cell:
            number = cell.get("row_id")
        if not isinstance(number, int):
            return dash.no_update
        return {"study": name, "number": number}

    @app.callback(Output("detail", "children"), Input("selected", "data"), Input("study", "value"),
                  Input("sig", "data"))
    def show(selected: Any, name: str | None, _sig: Any) -> list[Any]:
        data = safe_data(name)
        if isinstance(data, str):
            return [html.P(data, className="warn")]
        number = selected.get("number") if isinstance(selected, dict) and selected.get("study") == data.study \
            else None
        if number is None:
            best = data.best()
            number = best.number if best else None
        return detail_children(source.detail(data, number) if number is not None else None)

    return app


def serve(app: Any, host: str, port: int, ready: Any = None) -> None:
    """Serve `app` on host:port until interrupted (a one-line DashboardError when the port cannot be bound)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        """No line per request: the page polls every few seconds."""

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):  # werkzeug prints its own lines, then exits, when the bind fails
            server = make_server(host, port, app.server, threaded=True, request_handler=QuietHandler)
    except (OSError, SystemExit) as exc:
        why = getattr(exc, "strerror", None) or (said.getvalue().strip().splitlines() or [str(exc)])[0]
        raise DashboardError(f"cannot listen on {host}:{port}: {why}; pass another --port") from None
    if ready:
        ready(server)
    server.serve_forever()


def start_source(storage: str | None, study_name: str | None) -> StudySource:
    """Open the storage read-only and check the study exists (StorageError, one line, otherwise)."""
    source = StudySource(storage)
    names = source.names()
    if study_name is not None and study_name not in names:
        open_study(source.store, study_name)  # raises StorageError naming the studies
    if not names:
        raise DashboardError(f"the storage {source.label} holds no study yet; start `nas search` first")
    source.data(study_name or names[-1])  # a study not made by `nas search` fails here, in one line
    return source
