"""YAML node helpers that keep ``file:line:col`` for every message (the loader's toolbox)."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping

import yaml

from protocols.errors import ProtocolError

#: ``{name}`` (a parameter) or ``{cell.name}`` (a quantity of the cell under test).
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")


class Doc:
    """One protocol file's YAML nodes: errors located at a node, typed scalar readers."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, node: yaml.Node | None, message: str, suggestion: str = "") -> ProtocolError:
        """A ProtocolError at ``node`` (line and column 1-based)."""
        line = node.start_mark.line + 1 if node is not None else 0
        col = node.start_mark.column + 1 if node is not None else 0
        return ProtocolError(message, file=self.file, line=line, col=col, suggestion=suggestion)

    def mapping(self, node: yaml.Node | None, what: str,
                allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """``key -> (key node, value node)``; unknown or duplicate keys are errors with a hint."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping of key: value")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(key_node, f"keys in {what} must be plain names")
            key = str(key_node.value)
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed) or '(none)'}"
                raise self.error(key_node, f"unknown key {key!r} in {what}", hint)
            if key in out:
                raise self.error(key_node, f"duplicate key {key!r} in {what}")
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: yaml.Node, what: str) -> str:
        """The text of a single value (a bare ``{name}`` placeholder, which YAML reads as a
        one-key mapping, counts as the text ``{name}``)."""
        if (isinstance(node, yaml.MappingNode) and len(node.value) == 1
                and isinstance(node.value[0][0], yaml.ScalarNode) and isinstance(node.value[0][1], yaml.ScalarNode)
                and node.value[0][1].tag.endswith(":null") and node.value[0][1].value in ("", "~", "null")):
            return "{" + str(node.value[0][0].value) + "}"
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be a single value")
        return str(node.value)

    def number(self, node: yaml.Node, what: str, low: float | None = None, high: float | None = None) -> float:
        """A finite number within [low, high]."""
        text = self.scalar(node, what)
        try:
            value = float(text)
        except ValueError:
            raise self.error(node, f"{what} must be a number, got {text!r}") from None
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            raise self.error(node, f"{what} = {text} is out of range [{low}, {high}]")
        return value

    def substitute(self, node: yaml.Node, text: str, parameters: Mapping[str, str]) -> str:
        """Replace ``{name}`` by the parameter's value; an unknown name is an error with a hint."""
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in parameters:
                close = difflib.get_close_matches(name, list(parameters), n=1)
                if name.startswith("cell."):
                    raise self.error(node, f"unknown cell quantity {{{name}}}",
                                     f"did you mean '{{{close[0]}}}'?" if close else
                                     f"cell quantities: {', '.join(sorted(k for k in parameters if k.startswith('cell.')))}")
                raise self.error(node, f"unknown parameter {{{name}}}",
                                 f"did you mean '{{{close[0]}}}'?" if close else "declare it under 'parameters:'")
            return str(parameters[name])
        return _PLACEHOLDER.sub(replace, text)
