"""Fine-tuning through AutoTrain Advanced's LLM SFT trainer. The only module that knows AutoTrain.

AutoTrain 0.8.36 gives us three problems we solve here and nowhere else:
- its LLM trainers drop any validation split, so held-out loss comes from our own callback;
- it has no hook for extra callbacks or `max_steps`, so we wrap the two `utils` functions its
  SFT entry point looks up at call time (`get_callbacks`, `configure_training_args`);
- its CLI wrapper swallows exceptions, so we call the trainer function directly and raise.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import AutoTokenizer, TrainerCallback, set_seed

from harness.data import Splits
from harness.data.prompts import render_prompt, training_text
from harness.errors import UserError
from harness.runs import ADAPTER_DIR, LOGS_DIR
from harness.scoring import mean_loss, score_answers
from harness.spec import PromptSpec, TrainSpec

# (optimizer step, validation loss) -> True to stop training now (e.g. an Optuna prune).
ValidationHook = Callable[[int, float], bool]


class TrainingError(RuntimeError):
    """Training itself failed (not the user's input): carries the real cause."""


@dataclass
class TrainResult:
    adapter_dir: Path
    steps: int
    planned_steps: int  # what the schedule was set for; more than `steps` when stopped early
    train_tokens: int
    train_seconds: float  # optimizer steps only; validation passes are timed separately
    validation_seconds: float
    tokens_per_second: float
    # seconds from train begin to the end of each optimizer step, validation passes excluded:
    # lets benchmarks drop warm-up steps from a steady-state rate
    step_end_seconds: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # trainer logs: loss, learning_rate, grad_norm
    valid_losses: list[dict] = field(default_factory=list)  # {"step", "loss"}
    stopped_early: bool = False
    autotrain_params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["adapter_dir"] = str(self.adapter_dir)
        return out


def check_hardware(spec: TrainSpec) -> None:
    """QLoRA and half precision need a CUDA GPU; say so before a run starts, not mid-way."""
    import torch

    if torch.cuda.is_available():
        return
    if spec.quantization != "none":
        raise UserError(f"train.quantization: {spec.quantization} (QLoRA via bitsandbytes) needs a CUDA GPU; use 'none' on CPU")
    if spec.mixed_precision != "none":
        raise UserError(f"train.mixed_precision: {spec.mixed_precision} needs a CUDA GPU; use 'none' on CPU")


def train(
    model_dir: Path,
    splits: Splits,
    spec: TrainSpec,
    prompt: PromptSpec,
    out_dir: Path,
    on_validation: ValidationHook | None = None,
) -> TrainResult:
    """LoRA-tune `model_dir` on `splits.train`; the PEFT adapter lands in `out_dir/adapter`."""
    check_hardware(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data_dir = out_dir / "data"
    data_dir.mkdir(exist_ok=True)
    with (data_dir / "train.jsonl").open("w") as fh:
        for ex in splits.train:
            fh.write(json.dumps({"text": training_text(tokenizer, prompt, ex)}) + "\n")

    held_out = splits.valid[: spec.eval_examples]
    recorder = _Recorder(
        inputs=[render_prompt(tokenizer, prompt, ex.prompt) for ex in held_out],
        answers=[ex.answer + tokenizer.eos_token for ex in held_out],
        tokenizer=tokenizer,
        eval_every=spec.eval_every,
        on_validation=on_validation,
    )
    params = _autotrain_params(model_dir, spec)
    with contextlib.chdir(out_dir), _hooked_autotrain(recorder, spec):
        from autotrain.trainers.clm import train_clm_sft

        # trl packs and shuffles the data with the global RNGs before the Trainer seeds them, so
        # unseeded, the first training in a process sees its own batch order (trial 0 never repeated).
        set_seed(spec.seed)
        try:
            train_clm_sft.train(params)
        except (KeyboardInterrupt, UserError):
            raise
        except Exception as exc:
            raise TrainingError(f"AutoTrain SFT failed: {type(exc).__name__}: {exc}") from exc

    adapter = out_dir / ADAPTER_DIR
    if not (adapter / "adapter_model.safetensors").is_file():
        raise TrainingError(f"AutoTrain finished without writing an adapter to {adapter}")
    # SFT packs examples into full blocks, so every optimizer step sees exactly this many tokens
    train_tokens = recorder.steps * spec.batch_size * spec.gradient_accumulation * spec.block_size
    return TrainResult(
        adapter_dir=adapter,
        steps=recorder.steps,
        planned_steps=recorder.planned_steps,
        train_tokens=train_tokens,
        train_seconds=recorder.train_seconds,
        validation_seconds=recorder.validation_seconds,
        tokens_per_second=train_tokens / max(recorder.train_seconds, 1e-9),
        step_end_seconds=recorder.step_end_seconds,
        history=recorder.history,
        valid_losses=recorder.valid_losses,
        stopped_early=recorder.stopped_early,
        autotrain_params=params.model_dump(exclude={"token"}),
    )


def _autotrain_params(model_dir: Path, spec: TrainSpec):
    from autotrain.trainers.clm.params import LLMTrainingParams

    return LLMTrainingParams(
        model=str(model_dir),
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
        mixed_precision=None if spec.mixed_precision == "none" else spec.mixed_precision,
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
        args.update(save_strategy="no", report_to="none", data_seed=spec.seed, use_cpu=not torch.cuda.is_available())
        if spec.max_steps is not None:
            args["max_steps"] = spec.max_steps
        return args

    utils.get_callbacks, utils.configure_training_args = callbacks, training_args
    log_dir = Path(LOGS_DIR)  # cwd is the training output directory here
    log_dir.mkdir(exist_ok=True)
    sink = logger.add(log_dir / "autotrain.log", level="INFO")
    try:
        yield
    finally:
        utils.get_callbacks, utils.configure_training_args = get_callbacks, configure_training_args
        with contextlib.suppress(ValueError):
            logger.remove(sink)


class _Recorder(TrainerCallback):
    """Trainer callback: keeps the loss history, times steps, and computes validation loss on our
    held-out split every `eval_every` steps (and at the end), feeding `on_validation`."""

    def __init__(self, inputs, answers, tokenizer, eval_every, on_validation):
        self.inputs, self.answers, self.tokenizer = inputs, answers, tokenizer
        self.eval_every, self.on_validation = eval_every, on_validation
        self.history: list[dict] = []
        self.step_end_seconds: list[float] = []
        self.valid_losses: list[dict] = []
        self.steps = self.planned_steps = 0
        self.stopped_early = False
        self.train_seconds = self.validation_seconds = 0.0
        self._started = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()
        self.planned_steps = state.max_steps

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self.history.append({"step": state.global_step, **{k: v for k, v in logs.items() if k != "total_flos"}})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.steps = state.global_step
        self.step_end_seconds.append(time.perf_counter() - self._started - self.validation_seconds)
        last = state.global_step >= state.max_steps
        # at the last step the budget is spent: report the value, never stop "early"
        due = state.global_step % self.eval_every == 0 or last
        if due and self._validate(state.global_step, model, final=last):
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.steps = state.global_step
        self.train_seconds = time.perf_counter() - self._started - self.validation_seconds
        if not self.valid_losses or self.valid_losses[-1]["step"] != state.global_step:
            self._validate(state.global_step, model, final=True)

    def _validate(self, step: int, model, final: bool = False) -> bool:
        if not self.inputs:
            return False
        started = time.perf_counter()
        loss = mean_loss([s.answer for s in score_answers(model, self.tokenizer, self.inputs, self.answers)])
        self.validation_seconds += time.perf_counter() - started
        self.valid_losses.append({"step": step, "loss": loss})
        if not math.isfinite(loss):
            raise TrainingError(f"validation loss is {loss} at step {step}: training diverged (lower train.lr?)")
        if final or self.on_validation is None:
            return False
        stop = bool(self.on_validation(step, loss))
        self.stopped_early |= stop
        return stop
