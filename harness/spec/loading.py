"""Reading a spec file: YAML (a key twice is an error), `${VAR}` interpolation, and every
validation error turned into one `UserError` line naming the field, with a did-you-mean."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from harness import metrics as registry
from harness.errors import UserError
from harness.spec.schema import Spec

# ${VAR} (must be set) or ${VAR:-default}, as in the shell.
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: plain YAML
    keeps the last one silently, so `dtype: bf16` above `dtype: auto` would be ignored unseen."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float):  # unhashable keys are refused by the base class
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice in one mapping; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_spec(path: str | Path) -> Spec:
    """Read, interpolate and validate a spec file; any problem raises one-line `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: spec file not found")
    try:
        raw = yaml.load(path.read_text(), Loader=_SpecLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: the spec must be a YAML mapping with at least `project:`")
    return parse_spec(raw, base_dir=path.resolve().parent, origin=str(path))


def parse_spec(raw: dict[str, Any], base_dir: Path = Path("."), origin: str = "spec") -> Spec:
    env_fields: dict[str, str] = {}
    interpolated = _interpolate(raw, "", env_fields, origin)
    try:
        spec = Spec.model_validate(interpolated)
    except ValidationError as exc:
        errors = exc.errors()
        # an unknown key explains a "required" error beside it (`sorce:` leaves `source` missing)
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise UserError(f"{origin}: {_describe(first, interpolated)}") from None
    spec.base_dir = base_dir
    spec.env_fields = env_fields
    return spec


def _interpolate(node: Any, where: str, found: dict[str, str], origin: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, f"{where}.{k}" if where else str(k), found, origin) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{where}.{i}", found, origin) for i, v in enumerate(node)]
    if isinstance(node, str) and _ENV_VAR.search(node):
        def value(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if name not in os.environ and default is not None:
                return default
            if name not in os.environ:
                raise UserError(f"{origin}: field '{where}' uses ${{{name}}} but {name} is not set in the environment")
            return os.environ[name]

        found[where] = node
        return _ENV_VAR.sub(value, node)
    return node


def _describe(error: dict[str, Any], data: dict[str, Any]) -> str:
    """One line for the first pydantic error: field path, what is wrong, and a did-you-mean."""
    if error["type"] == "spec_check":  # a check across sections: its message names its fields
        return error["msg"]
    loc = [str(p) for p in error["loc"] if not str(p).startswith(("function-", "tagged-union["))]
    # Discriminated unions put the tag in the path (space.lr.float.low); drop it.
    loc = [p for p in loc if p not in ("float", "int", "categorical")]
    field = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        parent = _model_at(Spec, loc[:-1])
        hint = "" if parent is None else registry.did_you_mean(loc[-1], list(parent.model_fields), "known keys")
        return f"unknown key '{field}'{hint}"
    if error["type"] == "missing":
        return f"field '{field}' is required"
    msg = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    return f"field '{field}': {msg}{shown}"


def _model_at(model: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    """The pydantic model class that owns the keys at `loc`, for did-you-mean suggestions."""
    for key in loc:
        if key.isdigit():  # an index into a list of sections
            continue
        info = model.model_fields.get(key)
        if info is None:
            return None
        options = get_args(info.annotation) or (info.annotation,)
        options = [inner for a in options for inner in (get_args(a) if get_origin(a) is list else (a,))]  # list[X] | None
        nested = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


