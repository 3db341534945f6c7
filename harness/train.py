"""Fine-tuning through AutoTrain Advanced's LLM SFT trainer. The only module that knows AutoTrain.

AutoTrain 0.8.36 gives us four problems we solve here and nowhere else:
- its LLM trainers drop any validation split, so held-out loss comes from our own callback;
- it has no hook for extra callbacks or `max_steps`, so we wrap the two `utils` functions its
  SFT entry point looks up at call time (`get_callbacks`, `configure_training_args`);
- its CLI wrapper swallows exceptions, so we call the trainer function directly and raise;
- it was written against transformers 4.48 / trl 0.13, so `_bridged_stack` adapts the few calls
  newer releases renamed or removed, each only when the installed version needs it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import json
import logging
import math
import os
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

from packaging.version import Version
from pydantic import BaseModel, ConfigDict
from transformers import AutoTokenizer, TrainerCallback, set_seed

from harness import launch, progress
from harness.data import Splits
from harness.data.prompts import render_prompt, training_text
from harness.errors import UserError
from harness.events import (
    EventChannel,
    EventSink,
    Logged,
    Silent,
    StepEnded,
    Stopping,
    TrainingEnded,
    TrainingEvent,
    TrainingStarted,
    Validated,
)
from harness.hardware import Machine, check_compute, check_training, cpu_cores, this_machine, training_precision
from harness.likelihood import example_nll, mean_loss
from harness.results import LossPoint, TrainerLog, Training
from harness.runs import ADAPTER_DIR
from harness.spec import ComputeSpec, PromptSpec, TrainSpec

_AUTOTRAIN_LOG = logging.getLogger("autotrain")  # AutoTrain's loguru records and prints, re-logged
JOB_FILE = "job.json"  # in the training's out_dir: what a launched worker trains


class TrainingError(RuntimeError):
    """Training itself failed (not the user's input): carries the real cause."""


class TrainJob(BaseModel):
    """Everything one training process needs: in-process training and every launched worker run
    the same job, so they train the same thing."""

    model_config = ConfigDict(extra="forbid")
    model_dir: Path
    out_dir: Path  # holds data/train.jsonl; the adapter lands in out_dir/adapter
    spec: TrainSpec
    precision: str  # the mixed precision really used (`auto` resolved on this machine)
    validation_inputs: list[str]  # rendered prompts of the held-out examples scored during training
    validation_answers: list[str]


def train(
    model_dir: Path,
    splits: Splits,
    spec: TrainSpec,
    prompt: PromptSpec,
    out_dir: Path,
    events: EventChannel | None = None,
    compute: ComputeSpec | None = None,
) -> Training:
    """LoRA-tune `model_dir` on `splits.train`; the PEFT adapter lands in `out_dir/adapter`.

    The training reports through `events` (subscribe before calling; a subscriber may ask it to
    stop). `compute` above one process or machine launches it as worker processes (harness.launch)."""
    machine = this_machine()
    compute = compute or ComputeSpec()
    check_training(spec, machine)
    check_compute(compute, machine)
    job = _prepare(model_dir, splits, spec, prompt, out_dir, machine)
    channel = events or EventChannel()
    record = _TrainingRecord()
    channel.subscribe(record)
    with progress.task("train", spec.max_steps, "steps") as task:
        channel.subscribe(_ProgressView(task))
        if compute.launched(machine.gpus):
            _launch(job, compute, machine, channel)
        else:
            run_job(job, channel)
    adapter = out_dir / ADAPTER_DIR
    if not (adapter / "adapter_model.safetensors").is_file():
        raise TrainingError(f"AutoTrain finished without writing an adapter to {adapter}")
    if record.ended is None:
        raise TrainingError("the training ended without reporting its end")
    return record.training(adapter, _autotrain_params(job).model_dump(exclude={"token"}))


def join(model_dir: Path, splits: Splits, spec: TrainSpec, prompt: PromptSpec, out_dir: Path, compute: ComputeSpec) -> None:
    """Run this machine's processes of a training that machine 0 leads (`compute.machine_rank` > 0):
    the same job from the same spec and data; machine 0 writes the adapter and the record."""
    machine = this_machine()
    check_training(spec, machine)
    check_compute(compute, machine)
    _launch(_prepare(model_dir, splits, spec, prompt, out_dir, machine), compute, machine, None)


def _prepare(model_dir: Path, splits: Splits, spec: TrainSpec, prompt: PromptSpec, out_dir: Path, machine: Machine) -> TrainJob:
    """Write the training text and render the validation prompts once, for every process."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data_dir = out_dir / "data"
    data_dir.mkdir(exist_ok=True)
    with (data_dir / "train.jsonl").open("w") as fh:
        for ex in splits.train:
            fh.write(json.dumps({"text": training_text(tokenizer, prompt, ex)}) + "\n")
    held_out = splits.valid[: spec.eval_examples]
    return TrainJob(
        model_dir=model_dir,
        out_dir=out_dir.resolve(),
        spec=spec,
        precision=training_precision(spec, machine),
        validation_inputs=[render_prompt(tokenizer, prompt, ex.prompt) for ex in held_out],
        validation_answers=[ex.answer + tokenizer.eos_token for ex in held_out],
    )


def _launch(job: TrainJob, compute: ComputeSpec, machine: Machine, channel: EventChannel | None) -> None:
    job_file = job.out_dir / JOB_FILE
    job_file.write_text(job.model_dump_json())
    cmd = launch.command(compute, machine.gpus, len(cpu_cores()), job_file, job.precision)
    try:
        launch.run(cmd, channel, cwd=job.out_dir)
    except launch.LaunchFailed as exc:
        raise TrainingError(f"AutoTrain SFT failed: {exc}") from None


def run_job(job: TrainJob, events: EventSink) -> None:
    """Train `job` in this process: the whole training, or this rank's part of a launched one."""
    tokenizer = AutoTokenizer.from_pretrained(job.model_dir)
    recorder = _Recorder(job, tokenizer, events)
    params = _autotrain_params(job)
    # the main process saves the adapter here; AutoTrain writes its README here on every process
    (job.out_dir / ADAPTER_DIR).mkdir(exist_ok=True)
    with contextlib.chdir(job.out_dir), _hooked_autotrain(recorder, job.spec), _bridged_stack():
        from autotrain.trainers.clm import train_clm_sft

        # trl packs and shuffles the data with the global RNGs before the Trainer seeds them, so
        # unseeded, the first training in a process sees its own batch order (trial 0 never repeated).
        set_seed(job.spec.seed)
        try:
            train_clm_sft.train(params)
        except (KeyboardInterrupt, UserError, TrainingError):
            raise
        except Exception as exc:
            raise TrainingError(f"AutoTrain SFT failed: {type(exc).__name__}: {exc}") from exc


def _autotrain_params(job: TrainJob):
    from autotrain.trainers.clm.params import LLMTrainingParams

    spec, precision = job.spec, job.precision

    return LLMTrainingParams(
        model=str(job.model_dir),
        project_name=ADAPTER_DIR,
        data_path="data",
        train_split="train",
        valid_split=None,  # AutoTrain drops it anyway; we validate in _Recorder
        text_column="text",
        chat_template=None,  # prompts are rendered by harness.data.prompts, identical for eval
        trainer="sft",
        block_size=spec.block_size,
        model_max_length=max(spec.block_size, 2048),
        lr=spec.lr,
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        gradient_accumulation=spec.gradient_accumulation,
        warmup_ratio=spec.warmup_ratio,
        scheduler=spec.scheduler,
        optimizer=spec.optimizer,
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        seed=spec.seed,
        peft=True,
        lora_r=spec.lora.r,
        lora_alpha=spec.lora.alpha,
        lora_dropout=spec.lora.dropout,
        target_modules=spec.lora.target_modules,
        quantization=None if spec.quantization == "none" else spec.quantization,
        mixed_precision=None if precision == "none" else precision,
        disable_gradient_checkpointing=not spec.gradient_checkpointing,
        merge_adapter=False,
        padding="right",
        logging_steps=1,
        log="none",
    )


@contextlib.contextmanager
def _hooked_autotrain(recorder: _Recorder, spec: TrainSpec) -> Iterator[None]:
    """Add our callback and the TrainingArguments AutoTrain cannot express, for one call."""
    import torch
    from autotrain.trainers.clm import utils
    from loguru import logger

    get_callbacks, configure_training_args = utils.get_callbacks, utils.configure_training_args

    def callbacks(config):
        return [*get_callbacks(config), recorder]

    def training_args(config, logging_steps):
        args = configure_training_args(config, logging_steps)
        # disable_tqdm: progress is ours (harness.progress); its bar and loss prints are noise
        args.update(save_strategy="no", report_to="none", data_seed=spec.seed, use_cpu=not torch.cuda.is_available(),
                    disable_tqdm=True)
        # tokens/s counts what the Trainer fed, not batch × block. Every token, not "non_padding": where a
        # batch has no attention mask that mode drops each token equal to pad, and pad is eos for SmolLM2
        # (every example's last token); wrapped packing fills each block, so the blocks hold no padding.
        args["include_num_input_tokens_seen"] = "all"
        if spec.max_steps is not None:
            args["max_steps"] = spec.max_steps
        return args

    utils.get_callbacks, utils.configure_training_args = callbacks, training_args
    # AutoTrain logs through loguru to stdout and the Trainer prints; both go to logging
    # ("autotrain"), which the CLI sends to the run log (and to the terminal with -v).
    # AutoTrain's own stdout sink is removed for good: AutoTrain runs nowhere but here.
    logger.remove()
    sink = logger.add(_to_logging, level="INFO", format="{message}")
    lines = _LogLines(_AUTOTRAIN_LOG)
    try:
        with contextlib.redirect_stdout(lines), contextlib.redirect_stderr(lines):
            yield
    finally:
        utils.get_callbacks, utils.configure_training_args = get_callbacks, configure_training_args
        with contextlib.suppress(ValueError):
            logger.remove(sink)



def _to_logging(message) -> None:
    """loguru sink; loguru's numbers for the standard levels are the logging module's."""
    record = message.record
    _AUTOTRAIN_LOG.log(max(record["level"].no, logging.DEBUG), "%s", record["message"])


class _LogLines(io.TextIOBase):
    """A text stream that logs each complete line it is given (for print() inside AutoTrain)."""

    def __init__(self, target: logging.Logger):
        self.target, self.pending = target, ""

    def write(self, text: str) -> int:
        *complete, self.pending = (self.pending + text).split("\n")
        for line in complete:
            if line.strip():
                self.target.info("%s", line.rstrip())
        return len(text)


def _version(package: str) -> Version:
    return Version(importlib.metadata.version(package))


@contextlib.contextmanager
def _bridged_stack() -> Iterator[None]:
    """Adapt AutoTrain 0.8.36's calls to the installed transformers/trl, for one training call."""
    from autotrain.trainers.clm import train_clm_sft, utils
    from transformers import TrainingArguments
    from trl import SFTConfig
    from trl.trainer import sft_trainer

    sft_fields = {f.name: f for f in fields(SFTConfig)}
    saved = {(train_clm_sft, "SFTConfig"): SFTConfig, (utils, "AutoModelForCausalLM"): utils.AutoModelForCausalLM}
    saved[(utils, "configure_training_args")] = utils.configure_training_args

    def sft_config(**kwargs):
        if "max_seq_length" not in sft_fields:  # trl >= 0.20 renamed it
            kwargs["max_length"] = kwargs.pop("max_seq_length")
        if "packing_strategy" in sft_fields:  # trl >= 0.19 truncates long examples by default; keep them whole
            kwargs["packing_strategy"] = "wrapped"
        if sft_fields["bf16"].default is None:  # newer trl turns bf16 autocast on unless told: only on request
            kwargs.setdefault("bf16", False)
        return SFTConfig(**kwargs)

    def training_args(config, logging_steps):
        args = saved[(utils, "configure_training_args")](config, logging_steps)
        if "warmup_ratio" not in {f.name for f in fields(TrainingArguments)}:
            args["warmup_steps"] = args.pop("warmup_ratio")  # transformers >= 5.15: a fraction < 1 is a ratio
        return args

    train_clm_sft.SFTConfig, utils.configure_training_args = sft_config, training_args
    if _version("transformers") >= Version("4.53"):  # AutoTrain always passes the removed kwarg
        utils.AutoModelForCausalLM = _WithoutFlashAttentionFlag
    if hasattr(sft_trainer, "add_fused_lm_head"):  # trl >= 1.15: its fused LM head is slow on CPU
        saved[(sft_trainer, "add_fused_lm_head")] = sft_trainer.add_fused_lm_head
        sft_trainer.add_fused_lm_head = _lm_head_from_logits_on_cpu
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


def _lm_head_from_logits_on_cpu(model, **kwargs) -> None:
    """trl's fused LM head scores tokens without building the logits, which saves GPU memory; without
    Triton it runs as torch tiles that cost about twice the plain LM head per step (bench/README.md).
    On CPU, give SFTTrainer the same per-token outputs from the model's own logits instead: the loss
    is the cross-entropy of trl < 1.15 and of transformers' own loss."""
    import torch
    from trl.trainer.utils import FusedCausalLMOutput, add_fused_lm_head

    if model.device.type != "cpu":
        add_fused_lm_head(model, **kwargs)
        return
    forward = model.forward

    @functools.wraps(type(model).forward)  # generate() checks its kwargs against this signature
    def per_token_forward(self, *args, fused_lm_head=False, **inputs):
        if not fused_lm_head:
            return forward(*args, **inputs)
        labels = inputs.pop("labels")[:, 1:]
        log_p = forward(*args, **inputs).logits[:, :-1].float().log_softmax(-1)
        mask = labels != -100
        log_probs = log_p.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1).masked_fill(~mask, 0)
        with torch.no_grad():  # metrics only
            entropy = -(log_p.exp() * log_p).sum(-1).masked_fill(~mask, 0)
            is_top1 = (log_p.argmax(-1) == labels) & mask
        return FusedCausalLMOutput(log_probs=log_probs, entropy=entropy, is_top1=is_top1, label_mask=mask)

    model.forward = types.MethodType(per_token_forward, model)


class _WithoutFlashAttentionFlag:
    """AutoModelForCausalLM without `use_flash_attention_2=`, which transformers >= 4.53 rejects."""

    @staticmethod
    def from_pretrained(*args, use_flash_attention_2: bool = False, **kwargs):
        from transformers import AutoModelForCausalLM

        if use_flash_attention_2:
            kwargs["attn_implementation"] = "flash_attention_2"
        return AutoModelForCausalLM.from_pretrained(*args, **kwargs)


class _Recorder(TrainerCallback):
    """Trainer callback: turns the trainer's progress into events, computes validation loss on the
    held-out examples every `eval_every` steps (and at the end), and stops every rank alike once
    rank 0's sink carries a stop request. Under several processes each rank scores its share of
    the held-out examples and the sums are reduced, so every rank runs the same forward passes."""

    def __init__(self, job: TrainJob, tokenizer, events: EventSink):
        self.inputs, self.answers, self.tokenizer = job.validation_inputs, job.validation_answers, tokenizer
        self.eval_every, self.events = job.spec.eval_every, events
        self.last_validated: int | None = None
        self.stop_reason: str | None = None
        self.train_seconds = self.validation_seconds = 0.0
        self._started = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()
        self.events.emit(TrainingStarted(planned_steps=state.max_steps, processes=_world()[1]))

    def on_log(self, args, state, control, logs=None, **kwargs):
        numbers = {k: float(v) for k, v in (logs or {}).items() if k not in ("total_flos", "step") and isinstance(v, int | float)}
        if numbers:
            self.events.emit(Logged(step=state.global_step, values=numbers))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        seconds = time.perf_counter() - self._started - self.validation_seconds
        self.events.emit(StepEnded(step=state.global_step, planned_steps=state.max_steps,
                                   tokens_seen=state.num_input_tokens_seen, seconds=seconds))
        last = state.global_step >= state.max_steps
        if state.global_step % self.eval_every == 0 or last:
            self._validate(state.global_step, model, final=last)
        # at the last step the budget is spent: the value is reported, training never stops "early"
        if not last and self._agreed_stop():
            control.should_training_stop = True
            self.events.emit(Stopping(step=state.global_step, reason=self.stop_reason))
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.train_seconds = time.perf_counter() - self._started - self.validation_seconds
        if self.last_validated != state.global_step:
            self._validate(state.global_step, model, final=True)
        self.events.emit(TrainingEnded(
            steps=state.global_step,
            planned_steps=state.max_steps,
            tokens_seen=state.num_input_tokens_seen,  # the Trainer gathers it over all ranks
            train_seconds=self.train_seconds,
            validation_seconds=self.validation_seconds,
            stopped_early=self.stop_reason is not None,
            stop_reason=self.stop_reason,
        ))

    def _agreed_stop(self) -> bool:
        """Rank 0's stop request, the same on every rank (they must leave the loop together)."""
        reason = self.events.stop_reason
        if _world()[1] > 1:
            from accelerate.utils import broadcast_object_list

            reason = broadcast_object_list([reason], from_process=0)[0]
        self.stop_reason = reason
        return reason is not None

    def _validate(self, step: int, model, final: bool) -> None:
        if not self.inputs:
            return
        started = time.perf_counter()
        loss = _validation_loss(model, self.tokenizer, self.inputs, self.answers)
        seconds = time.perf_counter() - started
        self.validation_seconds += seconds
        self.last_validated = step
        if not math.isfinite(loss):
            raise TrainingError(f"validation loss is {loss} at step {step}: training diverged (lower train.lr?)")
        self.events.emit(Validated(step=step, loss=loss, seconds=seconds, final=final))


def _world() -> tuple[int, int]:
    """(this process's rank, how many processes train), under torch.distributed or alone."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _validation_loss(model, tokenizer, inputs: list[str], answers: list[str]) -> float:
    """Token-weighted answer NLL over all held-out examples. Several ranks each score every
    world-th example, padded to equal shares (a sharded model needs the same passes on all)."""
    rank, world = _world()
    if world == 1:
        return mean_loss([s.answer for s in example_nll(model, tokenizer, inputs, answers, whole_sequence=False)])
    import torch
    from accelerate import PartialState
    from accelerate.utils import reduce

    mine = list(range(rank, len(inputs), world))
    padded = mine + [0] * (-(-len(inputs) // world) - len(mine))
    scores = example_nll(model, tokenizer, [inputs[i] for i in padded], [answers[i] for i in padded], whole_sequence=False)
    kept = [s.answer for s in scores[: len(mine)]]
    totals = torch.tensor([sum(s.nll for s in kept), sum(s.tokens for s in kept)], dtype=torch.float64,
                          device=PartialState().device)
    nll, tokens = reduce(totals, reduction="sum").tolist()
    return nll / max(tokens, 1)


class _TrainingRecord:
    """Subscriber that keeps what the `Training` record holds, from the events alone."""

    def __init__(self) -> None:
        self.history: list[TrainerLog] = []
        self.valid_losses: list[LossPoint] = []
        self.step_end_seconds: list[float] = []
        self.ended: TrainingEnded | None = None

    def __call__(self, event: TrainingEvent) -> None:
        if isinstance(event, Logged):
            self.history.append(TrainerLog(step=event.step, **event.values))
        elif isinstance(event, StepEnded):
            self.step_end_seconds.append(event.seconds)
        elif isinstance(event, Validated):
            self.valid_losses.append(LossPoint(step=event.step, loss=event.loss))
        elif isinstance(event, TrainingEnded):
            self.ended = event

    def training(self, adapter: Path, autotrain_params: dict) -> Training:
        end = self.ended
        assert end is not None
        return Training(
            adapter_dir=adapter,
            steps=end.steps,
            planned_steps=end.planned_steps,
            train_tokens=end.tokens_seen,  # counted by the Trainer from the batches it really fed
            train_seconds=end.train_seconds,
            validation_seconds=end.validation_seconds,
            tokens_per_second=end.tokens_seen / max(end.train_seconds, 1e-9),
            step_end_seconds=self.step_end_seconds,
            history=self.history,
            valid_losses=self.valid_losses,
            stopped_early=end.stopped_early,
            autotrain_params=autotrain_params,
        )


class _ProgressView:
    """Subscriber that shows the training as a progress task: steps, loss, tokens/s, validation loss."""

    def __init__(self, task: progress.Task):
        self.task, self.loss, self.valid_loss = task, None, None

    def __call__(self, event: TrainingEvent) -> None:
        if isinstance(event, Logged) and "loss" in event.values:
            self.loss = event.values["loss"]
        elif isinstance(event, Validated):
            self.valid_loss = event.loss
        elif isinstance(event, StepEnded):
            self.task.total = event.planned_steps
            figures = {"loss": f"{self.loss:.4g}"} if self.loss is not None else {}
            figures["tokens/s"] = f"{event.tokens_seen / max(event.seconds, 1e-9):.0f}"
            if self.valid_loss is not None:
                figures["valid loss"] = f"{self.valid_loss:.4g}"
            self.task.update(event.step, **figures)


def _worker(job_file: Path) -> int:
    """A launched worker process (`python -m harness.train JOB`): its rank's part of the training."""
    rank = int(os.environ.get("RANK", "0"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[rank {rank}] %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    relay = launch.Relay.from_environment() if rank == 0 else None
    try:
        run_job(TrainJob.model_validate_json(job_file.read_text()), relay or Silent())
    except BaseException as exc:
        print(launch.worker_failed(rank, exc.__cause__ or exc if isinstance(exc, TrainingError) else exc), file=sys.stderr, flush=True)
        logging.getLogger("harness").exception("rank %d failed", rank)
        return 1
    finally:
        if relay is not None:
            relay.close()
    return 0


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1])))
