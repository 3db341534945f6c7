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
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

from packaging.version import Version
from transformers import AutoTokenizer, TrainerCallback, set_seed

from harness import progress
from harness.data import Splits
from harness.data.prompts import render_prompt, training_text
from harness.errors import UserError
from harness.hardware import check_training, this_machine, training_precision
from harness.results import LossPoint, TrainerLog, Training
from harness.runs import ADAPTER_DIR
from harness.scoring import mean_loss, score_answers
from harness.spec import PromptSpec, TrainSpec

_AUTOTRAIN_LOG = logging.getLogger("autotrain")  # AutoTrain's loguru records and prints, re-logged
# (optimizer step, validation loss) -> True to stop training now (e.g. an Optuna prune).
ValidationHook = Callable[[int, float], bool]


class TrainingError(RuntimeError):
    """Training itself failed (not the user's input): carries the real cause."""


def train(
    model_dir: Path,
    splits: Splits,
    spec: TrainSpec,
    prompt: PromptSpec,
    out_dir: Path,
    on_validation: ValidationHook | None = None,
) -> Training:
    """LoRA-tune `model_dir` on `splits.train`; the PEFT adapter lands in `out_dir/adapter`."""
    machine = this_machine()
    check_training(spec, machine)
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
    params = _autotrain_params(model_dir, spec, training_precision(spec, machine))
    with contextlib.chdir(out_dir), _hooked_autotrain(recorder, spec), _bridged_stack(), \
            progress.task("train", spec.max_steps, "steps") as task:
        recorder.task = task
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
    train_tokens = recorder.tokens_seen  # counted by the Trainer from the batches it really fed
    return Training(
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


def _autotrain_params(model_dir: Path, spec: TrainSpec, precision: str):
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
    """Trainer callback: keeps the loss history, times steps, and computes validation loss on our
    held-out split every `eval_every` steps (and at the end), feeding `on_validation`."""

    def __init__(self, inputs, answers, tokenizer, eval_every, on_validation):
        self.inputs, self.answers, self.tokenizer = inputs, answers, tokenizer
        self.eval_every, self.on_validation = eval_every, on_validation
        self.history: list[TrainerLog] = []
        self.step_end_seconds: list[float] = []
        self.valid_losses: list[LossPoint] = []
        self.steps = self.planned_steps = self.tokens_seen = 0
        self.stopped_early = False
        self.train_seconds = self.validation_seconds = 0.0
        self._started = 0.0
        self.task: progress.Task | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()
        self.planned_steps = state.max_steps

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self.history.append(TrainerLog(step=state.global_step, **{k: v for k, v in logs.items() if k not in ("total_flos", "step")}))
        if logs and "loss" in logs:
            self._show(state)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.steps = state.global_step
        self.step_end_seconds.append(time.perf_counter() - self._started - self.validation_seconds)
        self._show(state)
        last = state.global_step >= state.max_steps
        # at the last step the budget is spent: report the value, never stop "early"
        due = state.global_step % self.eval_every == 0 or last
        if due and self._validate(state.global_step, model, final=last):
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.steps = state.global_step
        self.tokens_seen = state.num_input_tokens_seen
        self.train_seconds = time.perf_counter() - self._started - self.validation_seconds
        if not self.valid_losses or self.valid_losses[-1].step != state.global_step:
            self._validate(state.global_step, model, final=True)

    def _show(self, state) -> None:
        if self.task is None:
            return
        self.task.total = state.max_steps
        losses = [h.loss for h in self.history if h.loss is not None]
        figures = {"loss": f"{losses[-1]:.4g}"} if losses else {}
        if self.step_end_seconds:
            figures["tokens/s"] = f"{state.num_input_tokens_seen / max(self.step_end_seconds[-1], 1e-9):.0f}"
        if self.valid_losses:
            figures["valid loss"] = f"{self.valid_losses[-1].loss:.4g}"
        self.task.update(self.steps, **figures)

    def _validate(self, step: int, model, final: bool = False) -> bool:
        if not self.inputs:
            return False
        started = time.perf_counter()
        loss = mean_loss([s.answer for s in score_answers(model, self.tokenizer, self.inputs, self.answers, whole_sequence=False)])
        self.validation_seconds += time.perf_counter() - started
        self.valid_losses.append(LossPoint(step=step, loss=loss))
        if not math.isfinite(loss):
            raise TrainingError(f"validation loss is {loss} at step {step}: training diverged (lower train.lr?)")
        if final or self.on_validation is None:
            return False
        stop = bool(self.on_validation(step, loss))
        self.stopped_early |= stop
        return stop
