"""Batched generation and its timing, identical for base and tuned models.

Both models get the same rendered prompts, token choice, max new tokens, stop token, dtype and
device; the tuned LoRA is merged into the base weights so latency compares like with like. Tokens
are the most likely ones (greedy) unless a decoding mode samples them (`results.Sampling`: each
answer from its own seeded generator). Constrained decoding is the same pass with each row's
grammar masking the logits (llguidance; the grammars come from `harness.evaluate.constraints`).
"""

from __future__ import annotations

import json
import random
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
from transformers.cache_utils import DynamicLayer

from harness import progress
from harness.evaluate.scorer import AnswerIsFinal
from harness.results import QueryTiming, Sampling

# A warm-up query's length: the prompt pass and a few decode steps meet every kernel a timed query
# uses (a batch-1 step has one shape whatever the answer's length), so no warm-up runs a whole answer.
WARM_UP_TOKENS = 8
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
    # Loaded weights come back trainable, merged ones frozen, and PyTorch picks matmul paths by that
    # flag, so base and tuned would not be timed alike (bench/README.md): frozen for both, always.
    model.requires_grad_(False)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir or model_dir)
    tokenizer.padding_side = "left"
    return model, tokenizer


@dataclass
class Generations:
    outputs: list[str]
    output_tokens: list[int]  # generated tokens up to and including the stop token
    seconds: float  # wall time of the whole batched pass
    cut: list[bool] = field(default_factory=list)  # still running when max_new_tokens ended it

    @property
    def tokens_per_second(self) -> float:
        return sum(self.output_tokens) / max(self.seconds, 1e-9)


@torch.no_grad()
def generate(model, tokenizer, inputs: list[str], *, max_new_tokens: int, batch_size: int, label: str = "generate",
             grammars: list[str] | None = None, is_final: AnswerIsFinal | None = None,
             sampling: Sampling | None = None) -> Generations:
    """Batched decoding, at most `batch_size` answers at a time, results in input order.
    Prompts are taken shortest first (less padding). `label` names the progress shown while it
    runs. With `grammars` (one per input, from `decoding.compile_grammars`), each answer is held to its own
    grammar; with `is_final`, an answer stops as soon as its text is final (no continuation could
    change its scores). Tokens are the most likely ones, or with `sampling` drawn, input i's from a
    generator seeded by the sampling seed and i (`inputs` may repeat a prompt for several draws)."""
    prompts = tokenizer(inputs, add_special_tokens=False)["input_ids"]
    order = sorted(range(len(inputs)), key=lambda i: len(prompts[i]))
    started = _now(model)
    with progress.task(label, len(inputs), "answers") as task:
        done: list[int] = []

        def on_answer(tokens: list[int]) -> None:
            done.append(len(tokens))
            task.update(len(done), **{"tokens/s": f"{sum(done) / max(_now(model) - started, 1e-9):.0f}"})

        pick = _argmax if sampling is None else _Sampler(sampling, [_seed(sampling, i) for i in order], model.device)
        tokens, cut = _decode(model, [prompts[i] for i in order], max_new_tokens, tokenizer.eos_token_id,
                              tokenizer.pad_token_id, batch_size=batch_size, on_answer=on_answer,
                              constraint=GrammarMask(tokenizer, [grammars[i] for i in order]) if grammars else None,
                              finished=_stop_check(tokenizer, is_final), pick=pick)
    seconds = _now(model) - started
    outputs: list[str] = [""] * len(inputs)
    counts: list[int] = [0] * len(inputs)
    cut_in_order: list[bool] = [False] * len(inputs)
    for position, i in enumerate(order):
        outputs[i] = tokenizer.decode(tokens[position], skip_special_tokens=True).strip()
        counts[i], cut_in_order[i] = len(tokens[position]), cut[position]
    return Generations(outputs=outputs, output_tokens=counts, seconds=seconds, cut=cut_in_order)


@dataclass
class LatencyProfile:
    queries: list[QueryTiming] = field(default_factory=list)


@torch.no_grad()
def measure_latency(model, tokenizer, inputs: list[str], *, max_new_tokens: int,
                    is_final: AnswerIsFinal | None = None) -> LatencyProfile:
    """Batch-1 latency of one model, after a short warm-up query (allocations, kernel selection, caches);
    answers stop where `generate`'s do."""
    _time_query(model, tokenizer, inputs[0], min(max_new_tokens, WARM_UP_TOKENS), is_final)
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
            _time_query(peft_model, tokenizer, inputs[0], min(max_new_tokens, WARM_UP_TOKENS), is_final)
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
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    stamps: list[float] = []
    started = _now(model)
    (tokens,), _ = _decode(model, [prompt], max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id,
                           on_step=lambda: stamps.append(_now(model)), finished=_stop_check(tokenizer, is_final))
    total = _now(model) - started
    ttft = stamps[0] - started
    tpot = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else None
    return QueryTiming(ttft_s=ttft, tpot_s=tpot, total_s=total, output_tokens=len(tokens))


def _stop_check(tokenizer, is_final: AnswerIsFinal | None) -> Callable[[list[int]], bool] | None:
    """`is_final` on a row's tokens, decoded as `generate` decodes its outputs."""
    if is_final is None:
        return None
    return lambda tokens: is_final(tokenizer.decode(tokens, skip_special_tokens=True).strip())


# (the prompts the batch's rows are, their next-token logits) -> each row's next token
TokenChoice = Callable[[list[int], torch.Tensor], torch.Tensor]


def _argmax(rows: list[int], logits: torch.Tensor) -> torch.Tensor:
    return logits.argmax(-1)


class _Sampler:
    """Tokens drawn at `temperature` from the smallest set holding `top_p` of the probability, each
    prompt's from its own generator: an answer's draws do not depend on which answers share its batch."""

    def __init__(self, sampling: Sampling, seeds: list[int], device: torch.device):
        self.temperature, self.top_p = sampling.temperature, sampling.top_p
        self.generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def __call__(self, rows: list[int], logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1:
            ranked, order = probs.sort(dim=-1, descending=True)
            ranked[ranked.cumsum(-1) - ranked >= self.top_p] = 0  # the mass before it already holds top_p
            probs = torch.zeros_like(probs).scatter(-1, order, ranked)
        return torch.cat([torch.multinomial(probs[i], 1, generator=self.generators[row]) for i, row in enumerate(rows)])


def _seed(sampling: Sampling, index: int) -> int:
    """Input `index`'s generator seed: fixed by the sampling seed and the index alone."""
    return random.Random(f"{sampling.seed}:{index}").getrandbits(63)


def _decode(model, prompts: list[list[int]], max_new_tokens: int, eos_id: int, pad_id: int | None, *, batch_size: int = 1,
            on_step: Callable[[], None] | None = None, on_answer: Callable[[list[int]], None] | None = None,
            constraint: GrammarMask | None = None, finished: Callable[[list[int]], bool] | None = None,
            pick: TokenChoice = _argmax) -> tuple[list[list[int]], list[bool]]:
    """Decoding of `prompts` (token ids), at most `batch_size` rows at a time: each row's tokens
    up to and including `eos_id`, or up to the token after which `finished` holds for it, and
    whether `max_new_tokens` cut it while still running. `pick` chooses each row's next token from
    its (masked) logits.

    Continuous batching: a row leaves the batch (and its KV cache) as soon as it stops, and once a
    quarter of the places are free the next prompts take them: their prompt pass runs on its own,
    then they join the running rows, all left-padded to one cache length. A batch then never spends
    its steps on one long answer while short ones wait. Per row the arithmetic is the model's plain
    forward over a KV cache (padding masked out), the same for every model it decodes."""
    waiting = list(range(len(prompts)))[::-1]  # popped from the end: in the order given
    tokens: list[list[int]] = [[] for _ in prompts]
    cut = [False] * len(prompts)

    def choose(rows: list[int], logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's next token, recorded, and which rows go on after it."""
        chosen = pick(rows, logits if constraint is None else constraint.mask(rows, logits))
        if on_step is not None:
            on_step()
        going = []
        for row, value in zip(rows, chosen.tolist()):
            tokens[row].append(value)
            if constraint is not None:
                constraint.advance(row, value)
            running = value != eos_id and not (finished is not None and finished(tokens[row]))
            cut[row] = running and len(tokens[row]) == max_new_tokens
            going.append(running and not cut[row])
            if not going[-1] and on_answer is not None:
                on_answer(tokens[row])
        return chosen, torch.tensor(going, device=chosen.device)

    refill_at = max(1, batch_size // 4)
    batch: _Batch | None = None
    while waiting or batch is not None:
        free = batch_size - (batch.size if batch else 0)
        if waiting and (batch is None or (free >= refill_at and batch.can_join())):
            joining, logits = _Batch.prefill(model, [waiting.pop() for _ in range(min(free, len(waiting)))], prompts, pad_id)
            first, going = choose(joining.rows.tolist(), logits)
            joining.keep(going)
            if batch is None:
                batch, chosen = joining, first[going]
            else:
                batch.join(joining)
                chosen = torch.cat([chosen, first[going]])
        if not batch.size:
            batch = None
            continue
        chosen, going = choose(batch.rows.tolist(), batch.step(model, chosen))
        batch.keep(going)
        chosen = chosen[going]
        if not batch.size:
            batch = None
    return tokens, cut


@dataclass
class _Batch:
    """Rows decoded together: which prompts they are, their KV cache, their attention mask over the
    cache (0 where a row is padded on the left) and each row's next position."""

    rows: torch.Tensor
    cache: DynamicCache
    mask: torch.Tensor
    next_position: torch.Tensor

    @property
    def size(self) -> int:
        return len(self.rows)

    @classmethod
    def prefill(cls, model, rows: list[int], prompts: list[list[int]], pad_id: int | None) -> tuple[_Batch, torch.Tensor]:
        """The prompt pass of `rows`, left-padded together: the batch and each row's next-token logits."""
        width = max(len(prompts[row]) for row in rows)
        ids = torch.tensor([[pad_id or 0] * (width - len(prompts[row])) + prompts[row] for row in rows], device=model.device)
        mask = torch.tensor([[0] * (width - len(prompts[row])) + [1] * len(prompts[row]) for row in rows], device=model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # each row counts from its own first token
        cache = DynamicCache(config=model.config)
        # the last position by index, not `logits_to_keep=1`: its strided slice of the hidden states sends
        # a frozen LM head through a batched matmul that copies the weight once per row (bench/README.md)
        last = torch.tensor([width - 1], device=model.device)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
                       logits_to_keep=last).logits[:, -1]
        return cls(torch.tensor(rows, device=model.device), cache, mask, positions[:, -1:] + 1), logits

    def step(self, model, token: torch.Tensor) -> torch.Tensor:
        """One token per row through the model: the next-token logits."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.size, 1)], dim=1)
        logits = model(input_ids=token[:, None], attention_mask=self.mask, position_ids=self.next_position,
                       past_key_values=self.cache, use_cache=True).logits[:, -1]
        self.next_position = self.next_position + 1
        return logits

    def keep(self, going: torch.Tensor) -> None:
        """Only the rows where `going` holds; cache columns now padding in every row are dropped."""
        if going.all():
            return
        keep = going.nonzero().squeeze(1)
        self.cache.batch_select_indices(keep)
        self.rows, self.mask, self.next_position = self.rows[keep], self.mask[keep], self.next_position[keep]
        first = int(self.mask.any(0).int().argmax())
        if first and self.can_join():
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]
            self.mask = self.mask[:, first:]

    def can_join(self) -> bool:
        """Rows can be padded and joined only where every cache layer is a plain growing one; a
        sliding-window layer keeps its own count of tokens seen, so such a batch runs to its end."""
        return all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def join(self, other: _Batch) -> None:
        """`other`'s rows after these, both left-padded to the longer cache."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.keys = torch.cat([_left_pad(mine.keys, width, -2), _left_pad(theirs.keys, width, -2)])
            mine.values = torch.cat([_left_pad(mine.values, width, -2), _left_pad(theirs.values, width, -2)])
        self.mask = torch.cat([_left_pad(self.mask, width, -1), _left_pad(other.mask, width, -1)])
        self.rows = torch.cat([self.rows, other.rows])
        self.next_position = torch.cat([self.next_position, other.next_position])


def _left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """Zeros before `tensor` along `dim` up to `width`."""
    missing = width - tensor.shape[dim]
    if not missing:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _now(model) -> float:
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()



class GrammarMask:
    """One grammar per prompt, one matcher each; `rows` name prompts, in the batch's row order.

    `mask` sets -inf on every token a row's grammar rejects next; `advance` feeds a row's matcher the
    token chosen for it. A finished grammar allows only the stop token, after which the row leaves."""

    def __init__(self, tokenizer, grammars: list[str]):
        info = _grammar_vocabulary(tokenizer)
        self.matchers = [llguidance.LLMatcher(info, grammar) for grammar in grammars]
        errors = [m.get_error() for m in self.matchers if m.is_error()]
        if errors:
            raise ValueError(f"grammar does not compile: {errors[0]}")
        self.bitmask = llguidance.torch.allocate_token_bitmask(len(grammars), info.vocab_size)

    def mask(self, rows: list[int], scores: torch.Tensor) -> torch.Tensor:
        # Row by row: llguidance's parallel executor measured slower on a 2-core machine (bench/README.md).
        for i, row in enumerate(rows):
            llguidance.torch.fill_next_token_bitmask(self.matchers[row], self.bitmask, i)
        # bit k of 32-bit word w allows token 32*w + k: looked up byte by byte (little-endian words)
        allowed = _BYTE_BITS[self.bitmask[: len(rows)].view(torch.uint8).long()].reshape(len(rows), -1)
        vocab = min(scores.shape[1], allowed.shape[1])
        masked = torch.full_like(scores, float("-inf"))
        masked[:, :vocab] = torch.where(allowed[:, :vocab].to(scores.device), scores[:, :vocab], float("-inf"))
        return masked

    def advance(self, row: int, chosen: int) -> None:
        if not self.matchers[row].is_stopped():
            self.matchers[row].consume_token(chosen)


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
