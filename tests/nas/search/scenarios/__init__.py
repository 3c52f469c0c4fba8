"""Fault-injection scenarios of `nas search` (tests/nas/search/test_faults.py).

common.py: driving `nas search` as a subprocess, reading its study, and judging a fault (figures and problems).
The other modules are scenario scripts run inside a private network namespace
(`python -m tests.nas.search.scenarios.<name> ...` through tests.infra.netns.run_in_private_netns); each prints
one `SCENARIO_RESULT {json}` line (tests.infra.netns.print_result) that the pytest test checks.
"""
