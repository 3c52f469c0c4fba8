"""Latency predictors behind one interface (registry by kind)."""

from latency_models.predictors.base import (PREDICTORS, Predictor, PredictorError, TrainingSet, load_predictor,
                                            predictor_from_dict)
from latency_models.predictors.flops import FlopsPredictor
from latency_models.predictors.layerwise import LayerwisePredictor
from latency_models.predictors.learned import LearnedUnitPredictor
from latency_models.predictors.lut import UnitLUTPredictor
from latency_models.predictors.roofline import RooflinePredictor

for _cls in (FlopsPredictor, RooflinePredictor, UnitLUTPredictor, LearnedUnitPredictor, LayerwisePredictor):
    PREDICTORS.add(_cls.kind, _cls)

__all__ = ["PREDICTORS", "Predictor", "PredictorError", "TrainingSet", "load_predictor", "predictor_from_dict",
           "FlopsPredictor", "RooflinePredictor", "UnitLUTPredictor", "LearnedUnitPredictor", "LayerwisePredictor"]
