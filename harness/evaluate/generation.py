"""Greedy generation and its timing, identical for base and tuned models.

Both models get the same rendered prompts, greedy decoding, max new tokens, stop token, dtype and
device; the tuned LoRA is merged into the base weights so latency compares like with like.
Constrained decoding is the same greedy pass with each row's grammar masking the logits
(llguidance; the grammars come from `harness.evaluate.constraints`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from copy import copy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import llguidance
import llguidance.torch
import torch
from tokenizers import decoders
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from harness import progress

# An answer's text -> whether generation may stop there (the metrics' `answer_is_final`).
AnswerIsFinal = Callable[[str], bool]
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_model(model_dir: Path, adapter_dir: Path | None = None, dtype: str = "float32", *, merge: bool = True):
    """Base model, or base + LoRA merged (no adapter indirection left at inference time).
    `merge=False` keeps the PeftModel so the adapter can be switched off and on (`measure_latency_pair`)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=_DTYPES[dtype]).to(device)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
        if merge:
            model = model.merge_and_unload()
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir or model_dir)
    tokenizer.padding_side = "left"
    return model, tokenizer


@dataclass
class Generations:
    outputs: list[str]
    output_tokens: list[int]  # generated tokens up to and including the stop token
    seconds: float  # wall time of the whole batched pass

    @property
    def tokens_per_second(self) -> float:
        return sum(self.output_tokens) / max(self.seconds, 1e-9)


@torch.no_grad()
def generate(model, tokenizer, inputs: list[str], *, max_new_tokens: int, batch_size: int, label: str = "generate",
             grammars: list[str] | None = None, is_final: AnswerIsFinal | None = None) -> Generations:
    """Batched greedy decoding. Prompts are batched by length (less padding) and results returned
    in input order. `label` names the progress shown while it runs. With `grammars` (one per
    input, from `compile_grammars`), each answer is held to its own grammar; with `is_final`, an
    answer stops as soon as its text is final (no continuation could change its scores)."""
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    outputs: list[str] = [""] * len(inputs)
    counts: list[int] = [0] * len(inputs)
    started = _now(model)
    with progress.task(label, len(inputs), "answers") as task:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([inputs[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            constraint = GrammarMask(tokenizer, [grammars[i] for i in idx]) if grammars else None
            rows = _greedy(model, enc.to(model.device), max_new_tokens, tokenizer.eos_token_id, constraint=constraint,
                           finished=_finished(tokenizer, is_final))
            for row, i in zip(rows, idx):
                counts[i] = len(row)
                outputs[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
            rate = sum(counts) / max(_now(model) - started, 1e-9)
            task.update(start + len(idx), **{"tokens/s": f"{rate:.0f}"})
    return Generations(outputs=outputs, output_tokens=counts, seconds=_now(model) - started)


@dataclass
class QueryTiming:
    """One batch-1 query: time to first token, time per later token, end to end."""

    ttft_s: float
    tpot_s: float | None  # None when only one token came out
    total_s: float
    output_tokens: int


@dataclass
class LatencyProfile:
    queries: list[QueryTiming] = field(default_factory=list)


@torch.no_grad()
def measure_latency(model, tokenizer, inputs: list[str], *, max_new_tokens: int,
                    is_final: AnswerIsFinal | None = None) -> LatencyProfile:
    """Batch-1 latency of one model, after one warm-up query (allocations, kernel selection, caches);
    answers stop where `generate`'s do."""
    _time_query(model, tokenizer, inputs[0], max_new_tokens, is_final)
    return LatencyProfile([_time_query(model, tokenizer, text, max_new_tokens, is_final) for text in inputs])


@torch.no_grad()
def measure_latency_pair(peft_model, tokenizer, inputs: list[str], *, max_new_tokens: int,
                         is_final: AnswerIsFinal | None = None) -> tuple[LatencyProfile, LatencyProfile]:
    """Base and tuned batch-1 latency, timed in alternation (ABBA order) on one set of weights.

    Timing one model after the other lets machine drift (other load, clocks, caches) decide the
    sign of a small difference; alternating query by query puts it on both sides equally. Base runs
    with the adapter disabled and tuned with it merged, so both take the same plain-matmul path."""
    sides = {"base": peft_model.disable_adapter, "tuned": lambda: _merged(peft_model)}
    profiles = {name: LatencyProfile() for name in sides}
    for side in sides.values():  # warm-up
        with side():
            _time_query(peft_model, tokenizer, inputs[0], max_new_tokens, is_final)
    for k, text in enumerate(inputs):
        for name in ("base", "tuned") if k % 2 == 0 else ("tuned", "base"):
            with sides[name]():
                profiles[name].queries.append(_time_query(peft_model, tokenizer, text, max_new_tokens, is_final))
    return profiles["base"], profiles["tuned"]


@contextmanager
def _merged(peft_model):
    peft_model.merge_adapter()
    try:
        yield
    finally:
        peft_model.unmerge_adapter()


def _time_query(model, tokenizer, text: str, max_new_tokens: int, is_final: AnswerIsFinal | None = None) -> QueryTiming:
    """Token timestamps are taken as each step's token is known (device synchronised first on GPU)."""
    enc = tokenizer([text], return_tensors="pt", add_special_tokens=False).to(model.device)
    stamps: list[float] = []
    started = _now(model)
    (tokens,) = _greedy(model, enc, max_new_tokens, tokenizer.eos_token_id, on_step=lambda: stamps.append(_now(model)),
                        finished=_finished(tokenizer, is_final))
    total = _now(model) - started
    ttft = stamps[0] - started
    tpot = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else None
    return QueryTiming(ttft_s=ttft, tpot_s=tpot, total_s=total, output_tokens=len(tokens))


def _finished(tokenizer, is_final: AnswerIsFinal | None) -> Callable[[list[int]], bool] | None:
    """`is_final` on a row's tokens, decoded as `generate` decodes its outputs."""
    if is_final is None:
        return None
    return lambda tokens: is_final(tokenizer.decode(tokens, skip_special_tokens=True).strip())


def _greedy(model, enc, max_new_tokens: int, eos_id: int, on_step: Callable[[], None] | None = None,
            constraint: GrammarMask | None = None, finished: Callable[[list[int]], bool] | None = None) -> list[list[int]]:
    """Greedy decoding of a left-padded batch: each row's tokens up to and including `eos_id`, or
    up to the token after which `finished` holds for the row.

    A row leaves the batch (and its KV cache) as soon as it stops, so a batch no longer computes
    its short answers for as long as its longest one. Per row the arithmetic is the model's plain
    forward over a KV cache, the same for every model it decodes (base and tuned alike)."""
    mask = enc["attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: each row counts from its own first token
    cache = DynamicCache(config=model.config)
    logits = model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=positions, past_key_values=cache,
                   use_cache=True, logits_to_keep=1).logits
    rows = torch.arange(mask.shape[0], device=mask.device)
    next_position = positions[:, -1:] + 1
    tokens: list[list[int]] = [[] for _ in range(mask.shape[0])]
    for step in range(max_new_tokens):
        scores = logits[:, -1] if constraint is None else constraint.mask(rows.tolist(), logits[:, -1])
        token = scores.argmax(-1)
        if on_step is not None:
            on_step()
        for row, value in zip(rows.tolist(), token.tolist()):
            tokens[row].append(value)
        if constraint is not None:
            constraint.advance(rows.tolist(), token.tolist())
        running = token != eos_id
        if finished is not None:
            running &= torch.tensor([not finished(tokens[row]) for row in rows.tolist()], device=running.device)
        if step == max_new_tokens - 1 or not running.any():
            break
        if not running.all():
            keep = running.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, token, mask, next_position = rows[keep], token[keep], mask[keep], next_position[keep]
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        logits = model(input_ids=token[:, None], attention_mask=mask, position_ids=next_position, past_key_values=cache,
                       use_cache=True).logits
        next_position = next_position + 1
    return tokens


def _now(model) -> float:
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()



def compile_grammars(lark: list[str]) -> list[str]:
    """Lark grammars in llguidance's form, once per example rather than once per batch."""
    return [llguidance.grammar_from("lark", text) for text in lark]


class GrammarMask:
    """One batch's grammars, one matcher per row (rows keep their batch numbers as others leave).

    `mask` sets -inf on every token a row's grammar rejects next; `advance` feeds each row's matcher
    the token chosen. A finished grammar allows only the stop token, after which the row leaves."""

    def __init__(self, tokenizer, row_grammars: list[str]):
        info = _grammar_vocabulary(tokenizer)
        self.matchers = [llguidance.LLMatcher(info, grammar) for grammar in row_grammars]
        errors = [m.get_error() for m in self.matchers if m.is_error()]
        if errors:
            raise ValueError(f"grammar does not compile: {errors[0]}")
        self.bitmask = llguidance.torch.allocate_token_bitmask(len(row_grammars), info.vocab_size)

    def mask(self, rows: list[int], scores: torch.Tensor) -> torch.Tensor:
        # Row by row: llguidance's parallel executor was 5x slower on a busy 2-core machine.
        for i, row in enumerate(rows):
            llguidance.torch.fill_next_token_bitmask(self.matchers[row], self.bitmask, i)
        # bit k of 32-bit word w allows token 32*w + k: looked up byte by byte (little-endian words)
        allowed = _BYTE_BITS[self.bitmask[: len(rows)].view(torch.uint8).long()].reshape(len(rows), -1)
        vocab = min(scores.shape[1], allowed.shape[1])
        masked = torch.full_like(scores, float("-inf"))
        masked[:, :vocab] = torch.where(allowed[:, :vocab].to(scores.device), scores[:, :vocab], float("-inf"))
        return masked

    def advance(self, rows: list[int], chosen: list[int]) -> None:
        for row, token in zip(rows, chosen):
            if not self.matchers[row].is_stopped():
                self.matchers[row].consume_token(token)


# _BYTE_BITS[b] = the 8 bits of byte b, lowest first
_BYTE_BITS = ((torch.arange(256).unsqueeze(-1) >> torch.arange(8)) & 1).bool()


@cache
def _grammar_vocabulary(tokenizer) -> llguidance.LLTokenizer:
    """llguidance's view of the vocabulary (about a second to build, so once per tokenizer).

    transformers 5's GGUF import gives byte-level BPE vocabularies a decoder Sequence(ByteFallback,
    Fuse, Replace, ByteLevel); llguidance then reads the tokens as SentencePiece pieces ('Ġ' as
    two bytes, not a space) and masks the wrong tokens. Such a decoder decodes exactly like a
    plain ByteLevel one, so llguidance is given that."""
    backend = copy(tokenizer.backend_tokenizer)
    layout = json.loads(backend.to_str())
    steps = (layout.get("decoder") or {}).get("decoders") or []
    if any(step.get("type") == "ByteLevel" for step in steps):
        backend.decoder = decoders.ByteLevel()
    backend.no_padding()
    backend.no_truncation()
    return llguidance.LLTokenizer(backend.to_str(), eos_token=tokenizer.eos_token_id)
