"""The one place prompts are rendered, so training and evaluation see identical model inputs."""

from __future__ import annotations

from harness.data.records import Example
from harness.spec import PromptSpec


def render_prompt(tokenizer, spec: PromptSpec, prompt: str) -> str:
    """The model input up to where the answer starts."""
    if spec.style == "plain" or not tokenizer.chat_template:
        return spec.template.format(prompt=prompt)
    messages = [{"role": "system", "content": spec.system}] if spec.system else []
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def training_text(tokenizer, spec: PromptSpec, example: Example) -> str:
    """Prompt + answer + the model's real end-of-sequence token, so a tuned model learns to stop."""
    return render_prompt(tokenizer, spec, example.prompt) + example.answer + tokenizer.eos_token
