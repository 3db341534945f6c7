"""Every check `harness run` makes before it creates anything, in one place: `harness validate`
runs exactly these, so a spec that validates cannot fail later on input the user could fix.

Cheap on purpose: data is read and split, but no model weights are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.data import DataInfo, Example, Splits, load_benchmarks, load_splits
from harness.errors import UserError
from harness.evaluate.decoding import check_decodings
from harness.hardware import check_compute, check_dtype, check_search_parallel, check_training, this_machine
from harness.models import check_model_source
from harness.search import check_storage
from harness.spec import Spec
from harness.tracking import check_tracking


@dataclass(frozen=True)
class Checked:
    """What the checks had to build anyway, handed on so `run` does not read the data twice."""

    splits: Splits
    data_info: DataInfo
    benchmarks: dict[str, list[Example]]  # evaluation.benchmarks, loaded


def preflight(spec: Spec) -> Checked:
    """Raise the first `UserError` a run of `spec` would meet before training."""
    machine = this_machine()
    check_training(spec.train, machine)
    check_compute(spec.compute, machine)
    if spec.compute.deepspeed_config and not spec.resolve_path(spec.compute.deepspeed_config).is_file():
        raise UserError(f"compute.deepspeed_config: {spec.resolve_path(spec.compute.deepspeed_config)} does not exist; "
                        "give the path of a DeepSpeed JSON config (relative to the spec) or use zero_stage")
    splits, data_info = load_splits(spec.data, spec.base_dir)
    benchmarks = load_benchmarks(spec.evaluation.benchmarks, spec.base_dir)
    for model in [model for _, model in spec.model.choices()] or [spec.model]:  # a sweep: every model
        check_dtype(model.dtype, machine)
        check_model_source(model, spec.base_dir)
    check_decodings(spec.evaluation, [splits.test, splits.valid, *splits.evaluation_only.values(), *benchmarks.values()])
    if spec.search is not None and spec.search.enabled:
        check_search_parallel(spec.search, spec.compute, machine)
        if spec.search.storage:
            check_storage(spec.search.storage)
    check_tracking(spec)
    return Checked(splits=splits, data_info=data_info, benchmarks=benchmarks)
