"""One of several processes that open one new search study at the same moment (what every backend's run() does
first: nas.search.session.open_search_study: create the storage's tables, create or resume the study, queue its
start-up points); run by test_faults.test_searches_started_at_once_on_a_new_storage.

    python -m tests.nas.search.scenarios.open_at_once STORAGE STUDY DATA_DIR TRIALS START_AT

Waits until the wall clock reaches START_AT (seconds since the epoch, the same for every process), opens the
study and prints SCENARIO_RESULT {"ok": bool, "error": first line or null, "waiting": trials it saw queued,
"late": whether it got ready only after START_AT}.
"""

from __future__ import annotations

import sys
import time

from tests.infra.netns import print_result


def main(argv: list[str]) -> int:
    storage, study_name, data_dir, trials, start_at = argv[0], argv[1], argv[2], int(argv[3]), float(argv[4])
    from nas.search.config import SearchConfig
    from nas.search.session import open_search_study, quiet_optuna
    from nas.search.trial import SearchContext

    quiet_optuna()
    config = SearchConfig(platform="arm", budget_ms=30.0, dataset=f"fashion-mnist:{data_dir}", trials=trials,
                          train_examples=200, val_examples=100, timeout_s=None, workers=1)
    late = time.time() > start_at  # this process was not ready in time: the opening was not at once
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        study = open_search_study(SearchContext(config), storage, study_name)
    except Exception as exc:  # noqa: BLE001 - what a user of `nas search` would see, as one line
        print_result({"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"[:400],
                      "waiting": None, "late": late})
        return 0
    print_result({"ok": True, "error": None, "waiting": len(study.get_trials(deepcopy=False)), "late": late})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
