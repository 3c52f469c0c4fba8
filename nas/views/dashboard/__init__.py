"""Dashboard of a search: read-only study data (data.py, detail.py), plotly figures, the Dash app, static report."""
