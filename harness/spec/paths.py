"""Dotted field paths (`lora.r`, `evaluation.benchmarks.0.source`): how a spec names one of its fields
in a search space, an override or a `${VAR}` placeholder, read and written by one implementation."""

from __future__ import annotations

from typing import Any


def get_field(node: Any, dotted: str) -> Any:
    """The value at `dotted` in a spec section (attributes) or its dumped data (keys, list indexes)."""
    for key in dotted.split("."):
        node = _child(node, key)
    return node


def set_field(data: dict, dotted: str, value: Any) -> None:
    """Set the value at `dotted` in dumped spec data, in place."""
    *parents, leaf = dotted.split(".")
    node: Any = data
    for key in parents:
        node = _child(node, key)
    node[int(leaf) if isinstance(node, list) else leaf] = value


def _child(node: Any, key: str) -> Any:
    if isinstance(node, list):
        return node[int(key)]
    if isinstance(node, dict):
        return node[key]
    return getattr(node, key)
