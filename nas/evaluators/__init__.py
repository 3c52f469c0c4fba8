"""Accuracy evaluators of the search: short training on the proxy task, zero-cost proxies (synflow, NASWOT) and the
weight-sharing supernet."""

from nas.evaluators.base import (ConfigError, EvalResult, EvaluationError, Evaluator, Pruned, Report,
                                 SearchSettings, params_m, torch_threads)
from nas.evaluators.proxy_net import (MIN_PROXY_FINAL_PX, build_proxy_model, final_feature_px, proxy_spec,
                                      proxy_stem)
from nas.evaluators.registry import (DEFAULT_EVALUATOR, default_evaluators, evaluator_label, evaluator_names,
                                     evaluator_search_options, make_evaluator, search_evaluator)
from nas.evaluators.training import RECOMMENDED_PROXY, TrainingConfig, TrainingEvaluator
from nas.evaluators.zero_cost import NaswotEvaluator, SynflowEvaluator, ZeroCostConfig, naswot_score, synflow_score

__all__ = [
    "ConfigError", "DEFAULT_EVALUATOR", "EvalResult", "EvaluationError", "Evaluator", "MIN_PROXY_FINAL_PX",
    "NaswotEvaluator", "Pruned", "RECOMMENDED_PROXY", "Report", "SearchSettings", "SynflowEvaluator",
    "TrainingConfig", "TrainingEvaluator", "ZeroCostConfig", "build_proxy_model", "default_evaluators", "evaluator_label",
    "evaluator_names", "evaluator_search_options", "final_feature_px", "make_evaluator", "naswot_score", "params_m", "proxy_spec", "proxy_stem",
    "search_evaluator", "synflow_score", "torch_threads",
]
