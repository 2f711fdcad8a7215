"""Reading and writing the file formats sops encrypts value by value.

Each format turns text into a tree (mappings, lists, scalars; ``Pairs`` for
line formats with comments) plus the raw ``sops`` block when there is one,
and back. YAML is read as YAML 1.2 reads it (sops' view: ``yes`` is a string,
dates stay text), keys in file order; comments in YAML and INI are not kept.
Whole files ("binary") are stored as sops stores them: JSON with one
``data`` value.
"""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from rampart.vault.errors import VaultError
from rampart.vault.tree import Pairs
from rampart.vault.values import Comment, SopsTime

Parsed = tuple[Any, dict[str, Any] | None]

STRUCTURED_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".ini": "ini"}


def format_of(path: Path) -> str:
    """``yaml``, ``json``, ``dotenv``, ``ini`` or ``binary`` (whole file), by name."""
    if path.name == ".env" or path.suffix == ".env" or path.name.startswith(".env."):
        return "dotenv"
    return STRUCTURED_SUFFIXES.get(path.suffix.lower(), "binary")


# --- YAML -------------------------------------------------------------------


# libyaml's parser and emitter when PyYAML has them (ten times faster on big files)
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """YAML with sops' (YAML 1.2) scalars: only true/false are booleans, no timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _string_keys(loader: Any, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise VaultError(f"line {key_node.start_mark.line + 1}: a mapping key must be text")
        out[str(key_node.value)] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _string_keys)


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Four spaces, as sops indents."""


def _represent_str(dumper: Any, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text and text.endswith("\n") else None
    node: yaml.ScalarNode = dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)
    return node


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(SopsTime, lambda d, t: d.represent_scalar("tag:yaml.org,2002:timestamp", t))


def _parse_yaml(text: str, where: str) -> Parsed:
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as error:
        raise VaultError(f"{where}: not valid YAML: {str(error).splitlines()[0]}") from None
    if len(documents) > 1:
        raise VaultError(f"{where}: several YAML documents in one file are not supported")
    tree = documents[0] if documents else {}
    return _split_metadata(tree, where)


def _emit_yaml(tree: Any, metadata: dict[str, Any] | None) -> str:
    full = dict(tree) if metadata is None else {**tree, "sops": metadata}
    return yaml.dump(full, Dumper=_Dumper, sort_keys=False, indent=4, allow_unicode=True,
                     width=1 << 30)


# --- JSON -------------------------------------------------------------------


def _parse_json(text: str, where: str) -> Parsed:
    try:
        tree = json.loads(text)
    except json.JSONDecodeError as error:
        raise VaultError(f"{where}: not valid JSON: {error}") from None
    return _split_metadata(tree, where)


def _emit_json(tree: Any, metadata: dict[str, Any] | None) -> str:
    full = dict(tree) if metadata is None else {**tree, "sops": metadata}
    return json.dumps(full, indent="\t", ensure_ascii=False) + "\n"


def _split_metadata(tree: Any, where: str) -> Parsed:
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise VaultError(f"{where}: the top level must be a mapping")
    metadata = tree.pop("sops", None)
    if metadata is not None and not isinstance(metadata, dict):
        raise VaultError(f"{where}: the 'sops' key is not a mapping")
    return tree, metadata


# --- binary (whole file) ------------------------------------------------------


def parse_binary_plain(data: bytes) -> Any:
    """A whole file as sops' binary store holds it: one ``data`` value."""
    return {"data": data.decode("utf-8", "surrogateescape")}


def binary_bytes(tree: Any) -> bytes:
    return str(tree.get("data", "")).encode("utf-8", "surrogateescape")


# --- dotenv and INI (flat formats; metadata flattened as sops does) -----------------


def _parse_dotenv(text: str, where: str) -> Parsed:
    pairs = Pairs()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        if line.startswith("#"):
            pairs.append((Comment(line[1:]), None))
            continue
        key, sign, value = line.partition("=")
        if not sign:
            raise VaultError(f"{where}:{number}: not KEY=VALUE")
        pairs.append((key, value.replace("\\n", "\n")))
    flat = {k[5:]: v for k, v in pairs if isinstance(k, str) and k.startswith("sops_")}
    body = Pairs((k, v) for k, v in pairs if not (isinstance(k, str) and k.startswith("sops_")))
    return body, (_unflatten(flat) if flat else None)


def _emit_dotenv(tree: Any, metadata: dict[str, Any] | None) -> str:
    items = list(tree) if isinstance(tree, Pairs) else list(tree.items())
    if metadata is not None:
        flat = _flatten(metadata)
        items += [(f"sops_{key}", flat[key]) for key in sorted(flat)]
    lines = []
    for key, value in items:
        if isinstance(key, Comment):
            lines.append(f"#{key.text}")
        elif isinstance(value, dict | list):
            raise VaultError(f"{key}: a dotenv value cannot be a mapping or list")
        else:
            lines.append(f"{key}={_flat_text(value).replace(chr(10), chr(92) + 'n')}")
    return "".join(line + "\n" for line in lines)


_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")


def _parse_ini(text: str, where: str) -> Parsed:
    tree: dict[str, Any] = {}
    section: dict[str, Any] = tree.setdefault("DEFAULT", {})
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        match = _SECTION.match(line)
        if match:
            section = tree.setdefault(match.group(1).strip(), {})
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
        if cut < 0:
            raise VaultError(f"{where}:{number}: not 'key = value' nor [section]")
        value = line[cut + 1 :].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        section[line[:cut].strip()] = value
    if not tree["DEFAULT"]:
        del tree["DEFAULT"]
    flat = tree.pop("sops", None)
    return tree, (_unflatten(flat) if flat else None)


def _emit_ini(tree: Any, metadata: dict[str, Any] | None) -> str:
    sections = dict(tree)
    if metadata is not None:
        sections["sops"] = _flatten(metadata)
    out = []
    for name, items in sections.items():
        if not isinstance(items, dict):
            raise VaultError(f"{name}: an INI value must be inside a [section]")
        out.append(f"[{name}]")
        for key, value in items.items():
            text = _flat_text(value)
            if isinstance(value, dict | list):
                raise VaultError(f"{name}.{key}: an INI value cannot be a mapping or list")
            out.append(f"{key} = {text}".rstrip() if text else f"{key} =")
        out.append("")
    return "\n".join(out)


def _flat_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _flatten(metadata: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in metadata.items():
        if isinstance(value, list):
            for index, entry in enumerate(value):
                for sub, text in entry.items():
                    flat[f"{key}__list_{index}__map_{sub}"] = str(text).replace("\n", "\\n")
        else:
            flat[key] = _flat_text(value).replace("\n", "\\n")
    return flat


_LIST_KEY = re.compile(r"^(\w+?)__list_(\d+)__map_(\w+)$")


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lists: dict[str, dict[int, dict[str, str]]] = {}
    for key, value in flat.items():
        text = str(value).replace("\\n", "\n")
        match = _LIST_KEY.match(key)
        if match:
            kind, index, sub = match.group(1), int(match.group(2)), match.group(3)
            lists.setdefault(kind, {}).setdefault(index, {})[sub] = text
        elif key == "mac_only_encrypted":
            out[key] = text.lower() == "true"
        else:
            out[key] = text
    for kind, entries in lists.items():
        out[kind] = [entries[i] for i in sorted(entries)]
    return out


Parser = Callable[[str, str], Parsed]
Emitter = Callable[[Any, dict[str, Any] | None], str]

PARSERS: dict[str, Parser] = {
    "yaml": _parse_yaml,
    "json": _parse_json,
    "dotenv": _parse_dotenv,
    "ini": _parse_ini,
    "binary": _parse_json,
}
EMITTERS: dict[str, Emitter] = {
    "yaml": _emit_yaml,
    "json": _emit_json,
    "dotenv": _emit_dotenv,
    "ini": _emit_ini,
    "binary": _emit_json,
}
