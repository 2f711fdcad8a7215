"""The YAML rule files as written: decoders and rules, validated field by field.

A file is a mapping with ``decoders`` and/or ``rules``, each a list. Unknown
keys are refused (a typo never silently disables a rule). Errors name the
file and the decoder or rule, on one line; see ``rules/hids/README.md`` for
the meaning of each key.
"""

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from rampart.config import Duration
from rampart.errors import RampartError

MIN_RULE_ID, MAX_RULE_ID = 1000, 999_999
#: yaml.safe_load's loader, libyaml's build of it when present (several times faster).
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class RuleLoadError(RampartError):
    """A rule file cannot be used: YAML error, unknown key, bad regex, missing parent."""


def _listed(value: object) -> object:
    """A single value where a list is expected becomes a one-item list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Listed = BeforeValidator(_listed)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecoderSpec(_Spec):
    """How to read one program's messages: which lines (program, prematch) and which fields."""

    name: str = Field(pattern=_NAME.pattern)
    parent: str | None = None
    """A child is tried only on lines its parent took; the first child that matches wins."""
    program: Annotated[list[str], Listed] = []
    """Program names (syslog tag) this top-level decoder is for; none: any line."""
    prematch: str | None = None
    """A regex searched in the message before anything else."""
    regex: str | None = None
    """A regex whose named groups become fields (srcip, user, dstuser, port, url, status...)."""


class RuleSpec(_Spec):
    """One rule: when it matches (conditions, parents, frequency) and what it says (level)."""

    id: int = Field(ge=MIN_RULE_ID, le=MAX_RULE_ID)
    level: int = Field(ge=0, le=15)
    description: str = Field(min_length=1)
    groups: Annotated[list[str], Listed] = []
    if_sid: Annotated[list[int], Listed] = []
    if_group: Annotated[list[str], Listed] = []
    decoded_as: str | None = None
    program: Annotated[list[str], Listed] = []
    match: Annotated[list[str], Listed] = []
    """Plain text, any of which the message must contain (case matters)."""
    regex: str | None = None
    """A regex searched in the message."""
    fields: dict[str, str] = {}
    """Field name: regex searched in that decoded field (a missing field never matches)."""
    srcip: Annotated[list[str], Listed] = []
    """Addresses or networks the source must be in (``!net``: must not be in)."""
    user: str | None = None
    """A regex the whole ``user`` field (else ``dstuser``) must match."""
    frequency: int | None = Field(default=None, ge=2, le=100_000)
    timeframe: Duration | None = None
    if_matched_sid: int | None = None
    if_matched_group: str | None = None
    same_source_ip: bool = False
    same_user: bool = False
    ignore: Duration = 0.0
    """Quiet period: after firing, the rule stays silent this long (per source/user if grouped)."""
    response: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    """The active response to run when this rule fires (``[alerts.responses.NAME]``)."""


class RuleFile(_Spec):
    decoders: list[DecoderSpec] = []
    rules: list[RuleSpec] = []


def read_rule_file(path: Path) -> RuleFile:
    """One file, parsed and validated; RuleLoadError naming the file and the item."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RuleLoadError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise RuleLoadError(f"{path}: cannot read: {error.strerror}") from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (the safe loader, in C if built)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise RuleLoadError(f"{path}: invalid YAML{line}: {problem}") from None
    if data is None:
        return RuleFile()
    if not isinstance(data, dict):
        raise RuleLoadError(f"{path}: expected a mapping with 'decoders' and/or 'rules'")
    try:
        return RuleFile.model_validate(data)
    except ValidationError as error:
        raise RuleLoadError(f"{path}: {_describe(error, data)}") from None


def _describe(error: ValidationError, data: dict[str, Any]) -> str:
    """``rule 1234: key level: ...`` for the first problem pydantic found."""
    first = error.errors()[0]
    location = list(first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if len(location) >= 2 and location[0] in ("decoders", "rules") and isinstance(location[1], int):
        section, index = str(location[0]), location[1]
        item = data[section][index]
        kind = "decoder" if section == "decoders" else "rule"
        label = "name" if kind == "decoder" else "id"
        ident = item.get(label, f"#{index + 1}") if isinstance(item, dict) else f"#{index + 1}"
        key = ".".join(str(part) for part in location[2:])
        if first["type"] == "extra_forbidden":
            return f"{kind} {ident}: unknown key {key!r}"
        return f"{kind} {ident}: key {key or '(item)'}: {message}"
    if first["type"] == "extra_forbidden":
        return f"unknown key {location[0]!r} (expected 'decoders' and/or 'rules')"
    return f"key {'.'.join(str(part) for part in location)}: {message}"
