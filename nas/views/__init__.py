"""Views of a search: the dashboard, export of a found network, and its full training."""
