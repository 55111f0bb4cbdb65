"""PyYAML's safe loader, with what aliases may add to a document bounded before it is built.

An alias (``*name``) stands for the whole node its anchor (``&name``) marks. PyYAML composes a
document as a graph in which every alias is the same node object, so composing costs no more
than the text; but everything that walks the result as a tree (``${VAR}`` expansion,
validation, ``repr`` in an error) pays for each alias again. Nine lines that nest aliases
nine wide ("billion laughs") stand for 9**9 values: minutes of CPU and gigabytes of memory.

So the document is composed first, its graph is measured (each node once, memoised, so the
measure costs no more than the text), and it is built only when its aliases add fewer than
:data:`MAX_ALIAS_VALUES` values to what the file writes out. A file that uses an anchor or two
(``<<: *defaults`` in every block) adds a few hundred; an alias that contains itself is
refused as well. Both refusals are :class:`yaml.YAMLError` with the line of the node at fault,
so callers report them like any other YAML error.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_ALIAS_VALUES = 10_000
"""How many values aliases may add beyond those the file writes out."""


class AliasExpansionError(yaml.YAMLError):
    """A document whose aliases stand for too many values, or contain themselves."""

    def __init__(self, problem: str, hint: str = "", mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint
        self.problem_mark = mark

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-free rebuild with every field, so the error survives pickle (multiprocessing).
        return (type(self), (self.problem, self.hint, self.problem_mark))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_aliases(root: Node, limit: int = MAX_ALIAS_VALUES) -> None:
    """Raise :class:`AliasExpansionError` when the aliases under ``root`` stand for more than
    ``limit`` values beyond those written out, or a node contains itself.

    A node met for the first time is written out; every later meeting (an alias) adds its
    whole tree again, whose size is known by then. Iterative (a deep document cannot exhaust
    Python's stack here) and linear in the graph: each node's tree size is computed once.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    added = 0
    stack: list[tuple[Node, Node | None, bool]] = [(root, None, False)]
    while stack:
        node, parent, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
        elif key in size:  # an alias of a node already measured: its whole tree again
            added += size[key]
            if added > limit:
                raise AliasExpansionError(
                    f"its aliases (*name) stand for more than {limit} values; refused before expanding them",
                    "write the values out, or nest fewer aliases",
                    (parent or node).start_mark,
                )
        elif key in on_path:
            raise AliasExpansionError(
                "an alias (*name) refers to the node that contains it",
                "an alias may only repeat a node written before and outside it",
                (parent or node).start_mark,
            )
        else:
            on_path.add(key)
            stack.append((node, parent, True))
            stack.extend((child, node, False) for child in reversed(_children(node)))


def safe_load_bounded(text: str, limit: int = MAX_ALIAS_VALUES) -> Any:
    """``yaml.safe_load(text)``, refusing a document whose aliases expand past ``limit``.

    Uses PyYAML's own composer and constructor (``SafeLoader``): only the check between
    composing and constructing is ours.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_aliases(node, limit)
        return loader.construct_document(node)
    finally:
        loader.dispose()
