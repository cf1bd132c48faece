"""Load the settings from a TOML file and the environment, failing with words a person can act on.

A bad file fails start-up with the key path and the reason (`smsc[1].tps: must be > 0`), a
missing file with its path. The environment overrides the file: `GATEWAYD_HTTP__LISTEN=…`, and
for SMSC tables `GATEWAYD_SMSC__<index or name>__<key>=…` (name with `-` written as `_`, any
case), e.g. `GATEWAYD_SMSC__SAFARICOM_1__PASSWORD`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.settings import Settings

ENV_PREFIX = "GATEWAYD_"
CONFIG_ENV = "GATEWAYD_CONFIG"
SYSTEM_CONFIG = Path("/etc/gatewayd/gatewayd.toml")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file or key and the reason."""


def load_settings(path: Path | None = None) -> Settings:
    """Settings from `path` (TOML) overlaid with the environment; defaults when path is None."""
    data = read_toml(path) if path is not None else {}
    _apply_smsc_env(data, os.environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        source = str(path) if path is not None else "configuration"
        lines = [format_error(err, data) for err in exc.errors()]
        raise ConfigError(f"{source}: invalid settings:\n  " + "\n  ".join(lines)) from None


def default_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The file used without `-c`: $GATEWAYD_CONFIG, else /etc/gatewayd/gatewayd.toml when it
    exists, else none (defaults and the environment only)."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, or ConfigError naming the path (missing, unreadable, bad TOML)."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def format_error(error: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> str:
    """One pydantic error as `key.path: reason`."""
    loc = tuple(error.get("loc", ()))
    key = key_path(loc) or "(top level)"
    name = _smsc_name(loc, data or {})
    if name:
        key = f"{key} (smsc {name!r})"
    return f"{key}: {_reason(error)}"


def key_path(loc: tuple[Any, ...]) -> str:
    """("smsc", 1, "tps") → "smsc[1].tps"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-"):  # pydantic's validator frames add noise
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _smsc_name(loc: tuple[Any, ...], data: Mapping[str, Any]) -> str | None:
    if len(loc) < 2 or loc[0] != "smsc" or not isinstance(loc[1], int):
        return None
    tables = data.get("smsc")
    if not isinstance(tables, list) or loc[1] >= len(tables):
        return None
    name = tables[loc[1]].get("name") if isinstance(tables[loc[1]], dict) else None
    return name if isinstance(name, str) else None


_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _reason(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in _BOUNDS:
        field, op = _BOUNDS[kind]
        return f"must be {op} {ctx.get(field)}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else str(error.get("msg"))
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _apply_smsc_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Apply `GATEWAYD_SMSC__<index|name>__<key>` to the file's [[smsc]] tables in place."""
    prefix = f"{ENV_PREFIX}SMSC__"
    tables = data.get("smsc")
    for name, value in sorted(environ.items()):
        if not name.upper().startswith(prefix):
            continue
        selector, sep, key = name[len(prefix) :].partition("__")
        if not sep or not key:
            raise ConfigError(f"{name}: expected {prefix}<index or name>__<key>")
        if not isinstance(tables, list):
            raise ConfigError(f"{name}: the configuration has no [[smsc]] tables")
        table = _select_smsc(tables, selector)
        if table is None:
            raise ConfigError(f"{name}: no [[smsc]] table with index or name {selector!r}")
        table[key.lower()] = value


def _select_smsc(tables: list[Any], selector: str) -> dict[str, Any] | None:
    dicts: list[dict[str, Any] | None] = [t if isinstance(t, dict) else None for t in tables]
    if selector.isdigit():
        index = int(selector)
        return dicts[index] if index < len(dicts) else None
    wanted = selector.lower()
    for table in dicts:
        name = table.get("name") if table is not None else None
        if isinstance(name, str) and name.lower().replace("-", "_") == wanted:
            return table
    return None
