"""Weight-sharing evaluation: a single-path one-shot supernet (Guo et al. 2019) over the search space.

`model.Supernet` holds every unit variant x kernel as a choice block at the widest shape, a path (a member of the
space) slices widths and split ratios and skips trailing units; `train` trains it one uniformly drawn path per step
(optionally only paths within a latency budget, optionally with a teacher's soft targets: `distill`) into one file
(`store`); `evaluator.SupernetEvaluator` scores a candidate by its inherited weights after re-estimating BatchNorm.
`split` cuts the space into parts by one stage's depth (few-shot), each part's supernet started from a trained one.
"""

from nas.evaluators.supernet.distill import DEFAULT_DISTILL_WEIGHT, Teacher, distill_loss, teacher_logits
from nas.evaluators.supernet.evaluator import LoadedSupernet, SupernetConfig, SupernetEvaluator, load_supernet
from nas.evaluators.supernet.model import Supernet, SupernetError, space_from_dict, space_to_dict, widest_member
from nas.evaluators.supernet.split import DepthSplit, SplitError, warm_start
from nas.evaluators.supernet.store import SupernetFile, SupernetFileError, file_sha256, read as read_supernet
from nas.evaluators.supernet.train import (PathSampler, SupernetRun, SupernetTrainError, SupernetTrainResult,
                                           check_out, check_teacher, epoch_paths, prepare_data, resume_state,
                                           train_supernet)

__all__ = [
    "DEFAULT_DISTILL_WEIGHT", "DepthSplit", "LoadedSupernet", "PathSampler", "SplitError", "Supernet",
    "SupernetConfig", "SupernetError", "SupernetEvaluator", "SupernetFile", "SupernetFileError", "SupernetRun",
    "SupernetTrainError", "SupernetTrainResult", "Teacher", "check_out", "check_teacher", "distill_loss",
    "epoch_paths", "file_sha256", "load_supernet", "prepare_data", "read_supernet", "resume_state",
    "space_from_dict", "space_to_dict", "teacher_logits", "train_supernet", "warm_start", "widest_member",
]
