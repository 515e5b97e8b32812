"""Bounds on a protocol file, checked before anything is built from it, each refused with one
``file:line:col`` error: the text's size and line lengths, YAML aliases that expand it (an
"alias bomb": 2 kB of nested ``*alias`` can stand for 10^8 nodes), the number of written steps,
YAML tags (``!!python/...`` and any other non-core tag), and look-alike characters (U+2212
minus, no-break spaces, dashes) named with their position when a value containing them fails.

The bounds are far above any real protocol (the shipped ones: < 5 kB, < 50 steps) and far below
what exhausts a bench PC: a refused file costs milliseconds and kilobytes.
"""

from __future__ import annotations

import unicodedata

import yaml

from protocols.errors import ProtocolError

#: Largest protocol text, characters.
MAX_TEXT_CHARS = 1_000_000
#: Longest line, characters.
MAX_LINE_CHARS = 10_000
#: Most YAML nodes the document may stand for once its aliases are expanded.
MAX_EXPANDED_NODES = 200_000
#: Most steps (and loops) a protocol may write, aliases expanded.
MAX_STEPS = 10_000
#: The YAML tags a protocol may carry (implicit ones of the core schema).
CORE_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in
                      ("str", "int", "float", "bool", "null", "map", "seq", "timestamp"))
#: Characters that look like ASCII ones but are not read as them: the character to type instead.
LOOK_ALIKES = {
    "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u00a0": "a space", "\u202f": "a space", "\u2007": "a space", "\u2009": "a space", "\u200b": "nothing",
    "\ufeff": "nothing",
}


def check_text(text: str, file: str) -> None:
    """Size and line-length bounds of the raw text."""
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError(f"protocol text is {len(text)} characters; at most {MAX_TEXT_CHARS} are read", file=file)
    for number, line in enumerate(text.split("\n"), 1):
        if len(line) > MAX_LINE_CHARS:
            raise ProtocolError(f"line is {len(line)} characters long; at most {MAX_LINE_CHARS}", file=file,
                                line=number, col=MAX_LINE_CHARS + 1)


def check_nodes(root: yaml.Node, file: str) -> None:
    """Tags and the expanded size of the composed document (each distinct node visited once)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: deep nesting cannot overflow the interpreter's stack
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[id(node)] > MAX_EXPANDED_NODES:
                raise _at(file, node, f"the YAML here expands (through its aliases) to more than "
                                      f"{MAX_EXPANDED_NODES} values; write the steps out or use 'repeat:'")
            continue
        _check_tag(node, file)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def count_steps(steps_node: yaml.Node) -> int:
    """Steps and loops written under ``steps:`` (aliases expanded, counted without expanding)."""
    memo: dict[int, int] = {}

    def count(node: yaml.Node, depth: int = 0) -> int:
        if id(node) in memo:
            return memo[id(node)]
        total = 0
        if isinstance(node, yaml.SequenceNode) and depth < 200:
            for item in node.value:
                total += 1
                if isinstance(item, yaml.MappingNode):
                    for key, value in item.value:
                        if isinstance(key, yaml.ScalarNode) and key.value == "steps":
                            total += count(value, depth + 1)
        memo[id(node)] = total
        return total

    return count(steps_node)


def check_steps(steps_node: yaml.Node, file: str) -> None:
    """At most :data:`MAX_STEPS` written steps."""
    total = count_steps(steps_node)
    if total > MAX_STEPS:
        raise _at(file, steps_node, f"{total} steps written (aliases expanded); at most {MAX_STEPS} - "
                                    "use 'repeat:' for repetitions")


def name_look_alikes(exc: ProtocolError, text: str) -> ProtocolError:
    """``exc`` with the first look-alike character on its line named (``U+2212 MINUS SIGN at
    line:col: type '-'``), or ``exc`` itself when its line has none."""
    lines = text.split("\n")
    if not exc.line or exc.line > len(lines):
        return exc
    line = lines[exc.line - 1]
    for col, char in enumerate(line, 1):
        if char in LOOK_ALIKES:
            name = unicodedata.name(char, "no name")
            return ProtocolError(
                f"{exc.message}: the line holds U+{ord(char):04X} {name} at column {col}, which is not "
                f"read as {LOOK_ALIKES[char]!r}", file=exc.file, line=exc.line, col=col,
                suggestion=f"type {LOOK_ALIKES[char]} instead")
    return exc


def _check_tag(node: yaml.Node, file: str) -> None:
    tag = node.tag or ""
    if tag in CORE_TAGS:
        return
    shown = "!!" + tag.split("tag:yaml.org,2002:", 1)[1] if tag.startswith("tag:yaml.org,2002:") else tag
    raise _at(file, node, f"YAML tags are not allowed in a protocol (found {shown!r}); write plain values")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _at(file: str, node: yaml.Node, message: str) -> ProtocolError:
    return ProtocolError(message, file=file, line=node.start_mark.line + 1, col=node.start_mark.column + 1)
