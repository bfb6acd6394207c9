"""YAML files read with the line of every key, so a settings or mapping error can name file, line and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str, ...]


class YamlFileError(ValueError):
    """A YAML file that cannot be read, or a value in it that is wrong; the message names the file and line."""


@dataclass
class LocatedYaml:
    """A YAML document as plain Python values, with the 1-based line of each mapping key by its path."""

    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, key_path: Path_) -> int | None:
        """The line of the key at `key_path`, or of its nearest ancestor that has one."""
        while key_path not in self.lines:
            if not key_path:
                return None
            key_path = key_path[:-1]
        return self.lines[key_path]

    def where(self, key_path: Path_) -> str:
        line = self.line(key_path)
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, key_path: Path_, problem: str) -> YamlFileError:
        dotted = ".".join(key_path)
        return YamlFileError(f"{self.where(key_path)}: {dotted + ': ' if dotted else ''}{problem}")


def load_located_yaml(path: Path) -> LocatedYaml:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlFileError(f"{path}: cannot be read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        context = f" ({exc.context})" if exc.context else ""
        raise YamlFileError(f"{where}: not valid YAML: {exc.problem}{context}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{path}: not valid YAML: {exc}") from None
    located = LocatedYaml(path=path, data=None)
    if node is not None:
        located.lines[()] = node.start_mark.line + 1
        located.data = _Converter(path, located.lines).convert(node, ())
    return located


class _Converter:
    """Plain values from a composed node tree, noting each key's line (yaml.safe_load loses them)."""

    def __init__(self, path: Path, lines: dict[Path_, int]) -> None:
        self.path = path
        self.lines = lines
        self.scalars = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, at: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(self.scalars.construct_object(key_node))
                child = (*at, key)
                line = key_node.start_mark.line + 1
                if key in out:
                    first = self.lines[child]
                    raise YamlFileError(f"{self.path}:{line}: {'.'.join(child)} is set twice (first on line {first})")
                self.lines[child] = line
                out[key] = self.convert(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = (*at, str(index))
                self.lines[child] = item.start_mark.line + 1
                items.append(self.convert(item, child))
            return items
        return self.scalars.construct_object(node)
