"""Re-runnable studies of the ShuffleNet V2 paper on any platform: a JSON config plus a runner each.

`guidelines` (G1-G4, Tables 1-4), `units` (Appendix Table 1b), `networks` (Table 8 levels) and `predictor`
(latency predictor accuracy). `experiments.registry.run_experiment(name, RunSettings(platform=...))` runs one
and writes <name>.csv (raw rows), <name>-summary.csv, <name>.html (plotly, self-contained), <name>.md (this
platform next to the paper, speeds normalised to each table's first row) and <name>.meta.json (machine,
platform, settings, choices). Platforms measurable here are timed; the others (arm, gpu-1080ti, user
platforms) use their profile's predictions, labelled as such. Only nas/cli imports this package.
"""
