"""The project spec: one YAML file, validated into typed records before anything runs.

Every mistake a user can make in the file becomes one `UserError` line naming the field path,
so `harness validate` and `harness run` fail fast with exit 2 and leave nothing behind. The
schema (`schema.py`) checks itself, also when a `Spec` is built in Python; `loading.py` reads files.
"""

from harness.spec.compute import ComputeSpec
from harness.spec.loading import load_spec, parse_spec
from harness.spec.schema import (
    BenchmarkSpec,
    CategoricalParam,
    DataSpec,
    EvaluationSpec,
    FloatParam,
    HoldoutSpec,
    IntParam,
    LoraSpec,
    ModelSpec,
    PromptSpec,
    RowFormat,
    SearchParam,
    SearchSpec,
    Spec,
    SplitSpec,
    TinyModel,
    TrainSpec,
)
from harness.spec.tracking import MlflowSpec, TensorBoardSpec, TrackingSpec, WandbSpec

__all__ = [
    "BenchmarkSpec",
    "CategoricalParam",
    "ComputeSpec",
    "DataSpec",
    "EvaluationSpec",
    "FloatParam",
    "HoldoutSpec",
    "IntParam",
    "LoraSpec",
    "MlflowSpec",
    "ModelSpec",
    "PromptSpec",
    "RowFormat",
    "SearchParam",
    "SearchSpec",
    "Spec",
    "SplitSpec",
    "TensorBoardSpec",
    "TinyModel",
    "TrackingSpec",
    "TrainSpec",
    "WandbSpec",
    "load_spec",
    "parse_spec",
]
