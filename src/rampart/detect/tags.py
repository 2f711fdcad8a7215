"""Fail2ban's regex tags (``<HOST>``, ``<F-USER>`` ...) translated to Python regex.

A filter's ``failregex`` is written with tags that stand for an address or
name (``<HOST>``, ``<ADDR>``, ``<IP4>``, ``<IP6>``, ``<DNS>``, ``<CIDR>``,
``<SUBNET>``), for lines to skip in a multi-line buffer (``<SKIPLINES>``) and
for named captures (``<F-ID>...</F-ID>``, ``<F-USER>``, ``<F-NOFAIL>``, any
``<F-NAME>``). The regexes below recognise the same text Fail2ban's do, so a
filter matches here exactly what it matches there.
"""

import re

# An IPv4 dotted quad; range checks happen when the address is parsed.
_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
# An IPv6 address as written in logs: up to seven groups joined by one or two
# colons, ending in a group or in a bare "::".
_IPV6 = r"(?:::|[0-9a-fA-F]{1,4}::?){1,7}(?:(?<=:):|[0-9a-fA-F]{1,4})"

_IP4_GROUP = rf"(?:::f{{4,6}}:)?(?P<ip4>{_IPV4})"
_IP6_GROUP = rf"(?P<ip6>{_IPV6})"
_DNS_GROUP = r"(?P<dns>[\w\-.^_]*\w)"
_CIDR_GROUP = r"(?P<cidr>\d+)"
_ADDR = rf"\[?(?:{_IP4_GROUP}|{_IP6_GROUP})\]?"
_HOST = rf"(?:{_ADDR}|{_DNS_GROUP})"
_SUBNET = rf"\[?(?:{_IP4_GROUP}|{_IP6_GROUP})(?:/{_CIDR_GROUP})?\]?"

#: Fixed tags; the ``F-X/`` forms are the self-closing spellings.
_FIXED_TAGS: dict[str, str] = {
    "IP4": _IP4_GROUP,
    "IP6": _IP6_GROUP,
    "ADDR": _ADDR,
    "CIDR": _CIDR_GROUP,
    "SUBNET": _SUBNET,
    "DNS": _DNS_GROUP,
    "F-ID/": r"(?P<fid>\S+)",
    "F-PORT/": r"(?P<fport>\w+)",
}
for _name in ("IP4", "IP6", "ADDR", "CIDR", "SUBNET", "DNS"):
    _FIXED_TAGS[f"F-{_name}/"] = _FIXED_TAGS[_name]

#: Capture names that differ from the lowercased tag name.
_GROUP_ALIASES = {"id": "fid", "port": "fport"}

_TAG = re.compile(r"</?[\w\-]+/?>")
_CUSTOM_TAG = re.compile(r"^(/?)F-([A-Z0-9_\-]+)$")
# Python 3.11 refuses a global flag such as "(?i)" after the start of a
# pattern; Fail2ban filters write "((?i)...)" meaning "this group only".
_GLOBAL_FLAG_IN_GROUP = re.compile(r"(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)")


def group_name(tag_name: str) -> str:
    """The capture name a ``<F-NAME>`` tag becomes (``F-ID`` -> ``fid``)."""
    lowered = tag_name.lower()
    return _GROUP_ALIASES.get(lowered, lowered)


def translate(regex: str, *, use_dns: str = "yes") -> str:
    """Return ``regex`` with every Fail2ban tag replaced by Python regex.

    ``use_dns="no"`` makes ``<HOST>`` match addresses only, as Fail2ban's
    ``usedns = no`` does. Unknown tags are left as they are.
    """
    opened: set[str] = set()
    skiplines = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal skiplines
        tag = match.group()
        name = tag[1:-1]
        if name == "HOST":
            return _HOST if use_dns != "no" else _ADDR
        if name == "SKIPLINES":
            skiplines += 1
            return rf"\n(?P<skiplines{skiplines - 1}>(?:(?:.*\n)*?))"
        fixed = _FIXED_TAGS.get(name)
        if fixed is not None:
            return fixed
        custom = _CUSTOM_TAG.match(name)
        if custom is None:
            return tag
        closing, custom_name = custom.groups()
        if closing:
            return ")" if custom_name in opened else tag
        opened.add(custom_name)
        return f"(?P<{group_name(custom_name)}>"

    translated = _TAG.sub(replace, regex)
    return _GLOBAL_FLAG_IN_GROUP.sub(r"\1:", translated)
