"""Read and check one datasheet YAML file, listing every problem as ``file:line:col: message``.

Layout (a product; every number carries its page)::

    name: lg_inr21700_m50
    aliases: [nmc_21700]               # other names a lab uses for this cell (optional)
    maker: LG Chem
    model: INR21700 M50
    chemistry: NMC811/graphite-SiOx
    form_factor: cylindrical 21700
    document: {title: "Product Specification INR21700 M50 18.20Wh", revision: "Rev. 0"}
    rating:
      capacity_ah: {value: 5.0, page: 4, section: "2.1 nominal capacity"}
      ...
    temperature: {charge_min_c: {value: 0, page: 4}, ...}
    mass_kg: {value: 0.06925, page: 4}
    dimensions: {diameter_mm: {value: 21.1, page: 5}, height_mm: {value: 70.15, page: 5}}

A class member (not a product) says ``document: class member, not a product`` and may give its
numbers bare (``capacity_ah: 60``). The keys are in :mod:`cells.datasheet`.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

import yaml

from cells.datasheet import (
    CLASS_MEMBER,
    DIMENSION_KEYS,
    OTHER_NUMBER_KEYS,
    RATING_KEYS,
    REQUIRED_RATING,
    TEMPERATURE_KEYS,
    Datasheet,
    Number,
)

TOP_KEYS = ("name", "aliases", "maker", "model", "chemistry", "form_factor", "document", "rating",
            "temperature", "dimensions", "notes") + OTHER_NUMBER_KEYS
TEXT_KEYS = ("maker", "model", "chemistry", "form_factor")
NUMBER_KEYS = ("value", "page", "section", "title", "revision", "source")
#: Plausible ranges of each kind of number (a typo such as 50000 Ah is an error, not a cell).
RANGES: dict[str, tuple[float, float]] = {
    "capacity_ah": (1e-4, 5000.0), "capacity_rate_c": (1e-3, 100.0), "voltage_max_v": (0.5, 10.0),
    "voltage_min_v": (0.0, 10.0), "pulse_duration_s": (1e-3, 3600.0), "_current": (0.0, 1e5),
    "_temperature": (-100.0, 200.0), "_mm": (0.1, 5000.0), "mass_kg": (1e-4, 1000.0), "volume_l": (1e-6, 1000.0),
    "electrode_area_m2": (1e-6, 1000.0),
}


class DatasheetError(ValueError):
    """A datasheet file with problems; ``problems`` are ``file:line:col: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_datasheet(path: str | Path, *, shipped: bool = False) -> Datasheet:
    """Read and check ``path``; :class:`DatasheetError` lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasheetError([f"{path}: cannot read: {exc}"]) from None
    return parse_datasheet(text, file=str(path), shipped=shipped)


def parse_datasheet(text: str, *, file: str = "<datasheet>", shipped: bool = False) -> Datasheet:
    """Parse datasheet YAML ``text``; every problem found is listed, not only the first."""
    return _Reader(file).read(text, shipped)


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def at(self, node: yaml.Node | None) -> str:
        if node is None:
            return f"{self.file}:1:1"
        return f"{self.file}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    def problem(self, node: yaml.Node | None, message: str) -> None:
        self.problems.append(f"{self.at(node)}: {message}")

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of key: value")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(getattr(key_node, "value", ""))
            if not isinstance(key_node, yaml.ScalarNode) or key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"keys: {', '.join(allowed)}"
                self.problem(key_node, f"unknown key {key!r} in {what} ({hint})")
                continue
            if key in out:
                self.problem(key_node, f"duplicate key {key!r} in {what}")
                continue
            out[key] = (key_node, value_node)
        return out

    def text(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null") or not str(node.value).strip():
            self.problem(node, f"{what} must be a non-empty text")
            return ""
        return str(node.value).strip()

    def read(self, text: str, shipped: bool) -> Datasheet:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{self.file}:{mark.line + 1}:{mark.column + 1}" if mark else f"{self.file}:1:1"
            raise DatasheetError([f"{where}: YAML syntax: {getattr(exc, 'problem', None) or exc}"]) from None
        if root is None:
            raise DatasheetError([f"{self.file}:1:1: empty datasheet file"])
        top = self.mapping(root, "datasheet", TOP_KEYS)
        for key in ("name", "maker", "model", "chemistry", "form_factor", "document", "rating"):
            if key not in top and isinstance(root, yaml.MappingNode):
                self.problem(root, f"datasheet needs '{key}'")
        name = self.text(top["name"][1], "name") if "name" in top else ""
        if name and not all(c.isalnum() or c in "_-." for c in name):
            self.problem(top["name"][1], f"name {name!r} must be letters, digits, '_', '-' or '.'")
        texts = {k: self.text(top[k][1], k) for k in TEXT_KEYS if k in top}
        aliases = self.aliases(top["aliases"][1]) if "aliases" in top else ()
        document = self.document(top["document"][1]) if "document" in top else ""
        numbers: dict[str, Number] = {}
        sections = (("rating", RATING_KEYS), ("temperature", TEMPERATURE_KEYS), ("dimensions", DIMENSION_KEYS))
        for section, keys in sections:
            if section in top:
                for key, (_k, value) in self.mapping(top[section][1], section, keys).items():
                    self.number(numbers, f"{section}.{key}", key, value, document)
        for key in OTHER_NUMBER_KEYS:
            if key in top:
                self.number(numbers, key, key, top[key][1], document)
        notes = self.text(top["notes"][1], "notes") if "notes" in top else ""
        self.consistency(numbers, top.get("rating", (root, root))[1])
        if self.problems:
            raise DatasheetError(sorted(self.problems, key=_position))
        return Datasheet(name=name, maker=texts.get("maker", ""), model=texts.get("model", ""),
                         chemistry=texts.get("chemistry", ""), form_factor=texts.get("form_factor", ""),
                         document=document, numbers=numbers, aliases=aliases, notes=notes, path=self.file,
                         shipped=shipped)

    def aliases(self, node: yaml.Node) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "aliases must be a list of names")
            return ()
        return tuple(self.text(item, "alias") for item in node.value)

    def document(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            value = str(node.value).strip()
            if value != CLASS_MEMBER:
                self.problem(node, f"document must be {{title: ..., revision: ...}} or the words '{CLASS_MEMBER}'")
            return value
        fields = self.mapping(node, "document", ("title", "revision", "date", "url"))
        for key in ("title", "revision"):
            if key not in fields:
                self.problem(node, f"document needs '{key}' (or say '{CLASS_MEMBER}')")
        values = {k: self.text(v, f"document.{k}") for k, (_k, v) in fields.items()}
        return ", ".join(values[k] for k in ("title", "revision", "date") if k in values)

    def number(self, numbers: dict[str, Number], key: str, short: str, node: yaml.Node, document: str) -> None:
        """``value`` or ``{value: V, page: N, section: ...}``; a product's number needs its page."""
        source = document
        value_node = node
        if isinstance(node, yaml.MappingNode):
            fields = self.mapping(node, key, NUMBER_KEYS)
            if "value" not in fields:
                self.problem(node, f"{key} needs 'value'")
                return
            value_node = fields["value"][1]
            if "source" in fields:
                source = self.text(fields["source"][1], f"{key}.source")
            else:
                title = self.text(fields["title"][1], f"{key}.title") if "title" in fields else document
                if "revision" in fields:
                    title = f"{title}, {self.text(fields['revision'][1], f'{key}.revision')}"
                parts = [title]
                if "page" in fields:
                    parts.append(f"p. {self.text(fields['page'][1], f'{key}.page')}")
                if "section" in fields:
                    parts.append(self.text(fields["section"][1], f"{key}.section"))
                if "page" not in fields and document != CLASS_MEMBER:
                    self.problem(node, f"{key}: give the page of the datasheet it comes from "
                                       f"(or source: '{CLASS_MEMBER}')")
                source = ", ".join(p for p in parts if p)
        elif document and document != CLASS_MEMBER:
            self.problem(node, f"{key}: a product's number needs its source: {{value: ..., page: N}}")
        if not isinstance(value_node, yaml.ScalarNode) or value_node.tag.endswith(":null"):
            self.problem(value_node, f"{key} must be a number")
            return
        try:
            value = float(value_node.value)
        except ValueError:
            self.problem(value_node, f"{key} must be a number, got {value_node.value!r}")
            return
        kind = ("_current" if short.endswith("_a") else "_temperature" if short.endswith("_c")
                else "_mm" if short.endswith("_mm") else short)
        low, high = RANGES.get(kind, (-math.inf, math.inf))
        if not math.isfinite(value) or not low <= value <= high:
            self.problem(value_node, f"{key} = {value_node.value} is out of range [{low:g}, {high:g}]")
            return
        numbers[key] = Number(value, source, self.at(value_node))

    def consistency(self, numbers: dict[str, Number], rating_node: yaml.Node) -> None:
        for key in REQUIRED_RATING:
            if f"rating.{key}" not in numbers and not any(f"rating.{key}" in p for p in self.problems):
                self.problem(rating_node, f"rating needs '{key}'")
        pairs = (("rating.voltage_min_v", "rating.voltage_max_v"), ("temperature.charge_min_c", "temperature.charge_max_c"),
                 ("temperature.discharge_min_c", "temperature.discharge_max_c"),
                 ("temperature.storage_min_c", "temperature.storage_max_c"))
        for low, high in pairs:
            if low in numbers and high in numbers and numbers[low].value >= numbers[high].value:
                self.problems.append(f"{numbers[low].where}: {low} ({numbers[low].value:g}) must be below "
                                     f"{high} ({numbers[high].value:g})")
        for pulse, continuous in (("rating.charge_pulse_current_max_a", "rating.charge_current_max_a"),
                                  ("rating.discharge_pulse_current_max_a", "rating.discharge_current_max_a")):
            if pulse in numbers and continuous in numbers and numbers[pulse].value < numbers[continuous].value:
                self.problems.append(f"{numbers[pulse].where}: {pulse} is below the continuous maximum {continuous}")


def _position(problem: str) -> tuple[int, int]:
    """(line, col) of a ``file:line:col: message`` problem, for listing them in file order."""
    parts = problem.split(": ", 1)[0].rsplit(":", 2)
    try:
        return int(parts[-2]), int(parts[-1])
    except (ValueError, IndexError):
        return 0, 0
