"""Hand-designed baselines of Table 8 (placeholder module: filled in by the baselines work)."""
