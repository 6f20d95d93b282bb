"""Click options derived from the config models: every leaf setting of RunConfig is a flag.

The flag of the setting at a dotted path of the config file is `--` + that path, with dashes:
`load.clients` is `--load.clients`, `fault.inject_after_s` is `--fault.inject-after-s`. The
spelling with underscores (the YAML key, as error messages name it) works too, through
FLAG_CONTEXT. Help comes from the Field description, choices from Literal and Enum types, the
default shown from `RunConfig()`. A flag's own default is "not given": only the flags given on
the command line are applied, each at its dotted path, over the --config file's data, and the
result is validated by RunConfig as a whole.

Shapes: a bool is `--load.streaming/--load.no-streaming`; a list takes the flag once per item;
a dict takes KEY=VALUE once per entry; an item or value that is itself a list or a mapping is
JSON (`--kubernetes.tolerations '{"operator": "Exists"}'`). A given flag replaces the file's
value at its path: lists and dicts are not merged.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache, partial
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import click
from click.core import ParameterSource
from pydantic import BaseModel

from runner.core.config import PLATFORM_LOAD_DEFAULTS, RunConfig
from runner.core.errors import UserError

GIVEN = "ft_runner.config_flags"  # ctx.meta key: {dotted path: value} of the flags given


def _dashes(token: str) -> str:
    return token.replace("_", "-")


# context_settings of a command with config flags: `--fault.inject_after_s` finds `--fault.inject-after-s`
FLAG_CONTEXT = {"token_normalize_func": _dashes}


# The short flags `ft-runner run` had before the dotted ones, each another name of one (`--clients` is
# `--load.clients`); `ft-runner results` takes the s3 ones.
ALIASES = {
    "scenarios": ("--scenario",),
    "load.client": ("--client",),
    "load.aiperf_mode": ("--aiperf-mode",),
    "load.clients": ("--clients",),
    "load.requests_per_client": ("--requests-per-client",),
    "load.request_rate_per_client": ("--request-rate",),
    "load.input_tokens": ("--input-tokens",),
    "load.output_tokens": ("--output-tokens",),
    "load.streaming": ("--streaming/--no-streaming",),
    "load.max_attempts": ("--max-attempts",),
    "fault.inject_after_s": ("--inject-after",),
    "fault.targets": ("--targets",),
    "fault.seed": ("--seed",),
    "deployment.migration_limit": ("--migration-limit",),
    "deployment.max_model_len": ("--max-model-len",),
    "probe.rate_per_s": ("--probe-rate",),
    "local.model_dir": ("--model-dir",),
    "kubernetes.namespace": ("--namespace",),
    "s3.bucket": ("--s3-bucket",),
    "s3.prefix": ("--s3-prefix",),
    "s3.endpoint": ("--s3-endpoint",),
    "s3.region": ("--s3-region",),
    "s3.addressing_style": ("--s3-addressing-style",),
    "s3.best_effort": ("--s3-best-effort/--no-s3-best-effort",),
}  # --platform, --output and --run-id are the dotted flags of top-level settings



@dataclass(frozen=True)
class Setting:
    dotted: str
    annotation: Any
    description: str | None
    default: Any


def _submodel(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _walk(model: type[BaseModel], prefix: str, defaults: dict) -> Iterator[Setting]:
    for name, field in model.model_fields.items():
        sub = _submodel(field.annotation)
        if sub:
            yield from _walk(sub, f"{prefix}{name}.", defaults[name])
        else:
            yield Setting(prefix + name, field.annotation, field.description, defaults[name])


@cache
def _defaults() -> dict:
    return RunConfig().model_dump()


@cache
def settings() -> dict[str, Setting]:
    """Every leaf setting of RunConfig by dotted path, in the models' order."""
    return {s.dotted: s for s in _walk(RunConfig, "", _defaults())}


def _flag(dotted: str) -> str:
    return "--" + _dashes(dotted)


# ---------------------------------------------------------------- types


def _bare(annotation: Any) -> Any:
    """The type without `| None` and without Annotated constraints (RunConfig checks those)."""
    if get_origin(annotation) is Annotated:
        return _bare(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        rest = [a for a in get_args(annotation) if a is not NoneType]
        return _bare(rest[0]) if len(rest) == 1 else Any
    return annotation


def _container(annotation: Any) -> tuple[type | None, Any]:
    """(list or dict, the type of an item or value) of a collection setting; (None, the type) otherwise."""
    bare = _bare(annotation)
    origin = get_origin(bare) or bare
    if origin is list:
        return list, _bare((get_args(bare) or (Any,))[0])
    if origin is dict:
        return dict, _bare((get_args(bare) or (str, Any))[1])
    return None, bare


class JsonType(click.ParamType):
    name = "json"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"{value!r} is not JSON ({exc.msg})", param, ctx)


class KeyValueType(click.ParamType):
    def __init__(self, value_type: click.ParamType) -> None:
        self.value_type = value_type
        self.name = "key=json" if isinstance(value_type, JsonType) else "key=value"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        key, sep, text = value.partition("=")
        if not (key and sep):
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return key, self.value_type.convert(text, param, ctx)


SCALARS = {int: click.INT, float: click.FLOAT, str: click.STRING, bool: click.BOOL, Path: click.Path()}


def _scalar_type(tp: Any) -> click.ParamType:
    if get_origin(tp) is Literal:
        return click.Choice(get_args(tp))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return click.Choice([member.value for member in tp])
    return SCALARS.get(tp, JsonType())  # anything else (a mapping, a list, Any) is JSON


def _is_json(item: Any) -> bool:
    return isinstance(_scalar_type(item), JsonType)


def _param_type(kind: type | None, item: Any) -> click.ParamType | None:
    if kind is dict:
        return KeyValueType(_scalar_type(item))
    if kind is None and item is bool:
        return None  # a --x/--no-x flag
    return _scalar_type(item)


# ---------------------------------------------------------------- help


def _platform_default(dotted: str) -> str:
    leaf = dotted.rpartition(".")[2]
    return ", ".join(f"{platform} {d[leaf]}" for platform, d in PLATFORM_LOAD_DEFAULTS.items() if leaf in d)


def _default_text(s: Setting) -> str:
    if s.default is None:
        return _platform_default(s.dotted)
    if s.default in ("", [], {}):
        return ""
    if isinstance(s.default, Enum):
        return str(s.default.value)
    if isinstance(s.default, (bool, list, dict)):
        return json.dumps(s.default)
    return str(s.default)


def _help(s: Setting, kind: type | None, item: Any) -> str:
    parts = [s.description or ""]
    if kind is list:
        parts.append("Repeatable, one JSON value each." if _is_json(item) else "Repeatable.")
    if kind is dict:
        parts.append("Repeatable, one KEY=JSON each." if _is_json(item) else "Repeatable, one KEY=VALUE each.")
    if default := _default_text(s):
        parts.append(f"[default: {default}]")
    return " ".join(parts)


# ---------------------------------------------------------------- options


def _decls(s: Setting, aliases: Sequence[str]) -> list[str]:
    name = _flag(s.dotted)
    if _bare(s.annotation) is bool:
        section, _, leaf = name[2:].rpartition(".")
        name += f"/--{section}.no-{leaf}" if section else f"/--no-{leaf}"
    return [s.dotted.replace(".", "__"), name, *aliases]  # the first is click's identifier for the option


def _remember(dotted: str, kind: type | None, ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT:
        ctx.meta.setdefault(GIVEN, {})[dotted] = kind(value) if kind else value
    return value


def config_option(dotted: str, *aliases: str) -> Callable:
    """A click option for the config setting at `dotted`; `aliases` are more flag names for it."""
    s = settings()[dotted]
    kind, item = _container(s.annotation)
    return click.option(
        *_decls(s, aliases), type=_param_type(kind, item), multiple=kind is not None, default=None,
        expose_value=False, callback=partial(_remember, dotted, kind), help=_help(s, kind, item),
    )


def config_options(aliases: Mapping[str, Sequence[str]]) -> Callable:
    """Every RunConfig leaf setting as an option, in the models' order; `aliases` adds flag names by path."""
    unknown = set(aliases) - set(settings())
    if unknown:
        raise KeyError(f"aliases of no config setting: {sorted(unknown)}")

    def decorate(fn: Callable) -> Callable:
        for dotted in reversed(settings()):  # click lists stacked options bottom-up
            fn = config_option(dotted, *aliases.get(dotted, ()))(fn)
        return fn

    return decorate


# ---------------------------------------------------------------- values


def given(ctx: click.Context) -> dict[str, Any]:
    """The config settings given as flags on this command line: {dotted path: value}."""
    return dict(ctx.meta.get(GIVEN, {}))


def _section(data: dict, path: list[str]) -> dict:
    node, defaults = data, _defaults()
    for depth, key in enumerate(path, 1):
        defaults = defaults[key]
        # a section the file lacks starts from its defaults: a Thresholds section has required keys
        node = node.setdefault(key, copy.deepcopy(defaults))
        if not isinstance(node, dict):
            raise UserError(f"{'.'.join(path[:depth])} in the config file is not a mapping: a flag sets a key below it")
    return node


def apply(data: dict, values: Mapping[str, Any]) -> dict:
    """`data` (a config file's mapping) with each value set at its dotted path."""
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        _section(data, parents)[leaf] = value
    return data
