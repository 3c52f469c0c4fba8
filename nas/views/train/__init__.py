"""Final training of a found network (`nas train`): recipe, resumable loop, checkpoints and trained weights."""

from nas.views.train.checkpoint import (CHECKPOINT_FILE, FINAL_FILE, METRICS_FILE, TrainedWeights, load_teacher,
                                       load_weights)
from nas.views.train.errors import DivergedError, TrainError
from nas.views.train.loop import (EpochRecord, TrainResult, plan_run, prepare_data, prepare_out_dir, read_checkpoint,
                            resume_run, train_network)
from nas.views.train.recipe import Recipe, augment_for
from nas.views.train.setup import RunSetup

__all__ = [
    "CHECKPOINT_FILE", "DivergedError", "EpochRecord", "FINAL_FILE", "METRICS_FILE", "Recipe", "RunSetup",
    "TrainError", "TrainResult", "TrainedWeights", "augment_for", "load_teacher", "load_weights", "plan_run",
    "prepare_data", "prepare_out_dir", "read_checkpoint", "resume_run", "train_network",
]
