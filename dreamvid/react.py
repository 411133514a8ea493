"""Audio reactions: ``parse_reaction(text, targets) → Reaction``; ``reaction.values(envelopes)`` per frame.

A reaction maps envelopes (see :mod:`dreamvid.audio`) onto a setting that takes schedules, on top of its
schedule (``audio.react`` in presets, ``--react`` on the command line)::

    "step_size += 0.006 * onset"      pulses add and decay with the envelope
    "zoom *= 1 + 0.3 * low"           zoom is a rate per second, so a surge moves the picture further:
                                      motions accumulate frame after frame
    "rotate += 20 * beat"             degrees per second, on each beat
    "dream.steps = 2 + 6 * rms"       ``=`` replaces the scheduled value; ``-=`` subtracts

The target is a key of ``[dream]``, ``[video]`` or ``[zoom]`` that takes schedules, with or without its
table (``step_size`` or ``dream.step_size``). The expression is arithmetic (``+ - * / **``, parentheses)
over numbers and the envelope names ``rms onset beat low mid high``, computed in float64 where nothing
raises: a part without envelopes that is not a finite number (``1/0``, ``10.0**400``, ``2**2**2**2**2``) is
refused when the reaction is parsed, and a value that is not finite at some frame (``1/low`` where ``low``
is 0) when its values are computed. Reactions apply in order, after the
schedules; whole-number settings are rounded. A value a reaction pushes out of its setting's range is an
error naming the frame, found before any frame is rendered (:meth:`dreamvid.timeline.Timeline.check`).
Which settings a reaction may target is given to the parser (``targets``, table → keys); the tables
themselves live in :mod:`dreamvid.settings`, which checks every reaction it is given with this parser.
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dreamvid.audio import NAMES
from dreamvid.errors import ConfigError

if TYPE_CHECKING:
    from dreamvid.audio import Envelopes

_STATEMENT = re.compile(r"\s*(?P<target>[A-Za-z_][\w.]*)\s*(?P<op>\+=|-=|\*=|=)(?P<expr>.+)", re.DOTALL)
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_MAX_LENGTH = 1000
_MAX_DEPTH = 50
_EXAMPLE = 'write TARGET OP EXPRESSION, e.g. "zoom *= 1 + 0.3 * low" (OP: +=, -=, *=, =)'


@dataclass(frozen=True)
class Reaction:
    """One parsed reaction: ``table.key op expression``."""

    text: str
    table: str
    key: str
    op: str
    expression: ast.expr

    def values(self, envelopes: Envelopes) -> np.ndarray:
        """The expression evaluated for every frame of ``envelopes`` (float64, one value per frame)."""
        with np.errstate(all="ignore"):
            out = _evaluate(self.expression, envelopes) * np.ones(envelopes.frames, np.float64)
        if not np.all(np.isfinite(out)):
            frame = int(np.argmin(np.isfinite(out)))
            raise ConfigError(f"reaction {self.text!r} is not a finite number at frame {frame} (a division by "
                              f"zero?); change the expression")
        return out

    def apply(self, current: float, value: float) -> float:
        if self.op == "+=":
            return current + value
        if self.op == "-=":
            return current - value
        if self.op == "*=":
            return current * value
        return value


def parse_reaction(text: str, *, targets: Mapping[str, Sequence[str]]) -> Reaction:
    """Parse ``"TARGET OP EXPRESSION"``; names and syntax are checked, values only per frame.

    Args:
        text: the reaction.
        targets: table → the keys a reaction may set (:data:`dreamvid.settings.SCHEDULABLE`).

    Raises:
        ConfigError: malformed text, a target that is not in ``targets``, an unknown envelope.

    Example:
        >>> r = parse_reaction("zoom *= 1 + 0.3 * low", targets={"zoom": ["zoom", "rotate"]})
        >>> r.table, r.key, r.op
        ('zoom', 'zoom', '*=')
    """
    if not isinstance(text, str):
        raise ConfigError(f"audio.react entries must be strings like \"zoom *= 1 + 0.3 * low\", got {text!r}")
    if len(text) > _MAX_LENGTH:
        raise ConfigError(f"reaction {text[:40]!r}... is {len(text)} characters long; keep it under {_MAX_LENGTH}")
    match = _STATEMENT.fullmatch(text)
    if match is None:
        raise ConfigError(f"malformed reaction {text!r}; {_EXAMPLE}")
    table, key = _resolve_target(match["target"], text, targets)
    try:
        expression = ast.parse(match["expr"].strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: an integer of > 4300 digits
        raise ConfigError(f"malformed expression in reaction {text!r}; {_EXAMPLE}") from None
    _check_expression(expression, text)
    _constant(expression, text)
    return Reaction(text.strip(), table, key, match["op"], expression)


def _resolve_target(target: str, text: str, tables: Mapping[str, Sequence[str]]) -> tuple[str, str]:
    if "." in target:
        table, _, key = target.partition(".")
        if key in tables.get(table, []):
            return table, key
    else:
        owners = [table for table, keys in tables.items() if target in keys]
        if owners:
            return owners[0], target
    everything = [f"{table}.{key}" for table, keys in tables.items() for key in keys]
    close = difflib.get_close_matches(target, everything + [k.split(".")[1] for k in everything], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; targets are {', '.join(everything)}"
    raise ConfigError(f"reaction {text!r} targets {target!r}, which is not a number that takes schedules{hint}")


def _check_expression(node: ast.expr, text: str) -> None:
    """Refuse anything but numbers, envelopes and ``+ - * / **``, and nesting deeper than ``_MAX_DEPTH``."""
    depths = [(node, 1)]
    while depths:  # without recursion: the evaluator recurses only into trees known to be shallow
        child, depth = depths.pop()
        if depth > _MAX_DEPTH:
            raise ConfigError(f"reaction {text!r} nests more than {_MAX_DEPTH} operations deep; simplify it")
        depths += [(grandchild, depth + 1) for grandchild in ast.iter_child_nodes(child)]
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            if child.id not in NAMES:
                close = difflib.get_close_matches(child.id, NAMES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(f"unknown envelope {child.id!r} in reaction {text!r}; {hint}envelopes are "
                                  f"{', '.join(NAMES)}")
        elif isinstance(child, ast.Constant):
            if isinstance(child.value, bool) or not isinstance(child.value, (int, float)):
                raise ConfigError(f"reaction {text!r} may only use numbers and envelopes, got {child.value!r}")
        elif isinstance(child, ast.BinOp):
            if type(child.op) not in _BINARY:
                raise ConfigError(f"reaction {text!r} uses an operator other than + - * / **; {_EXAMPLE}")
        elif isinstance(child, ast.UnaryOp):
            if type(child.op) not in _UNARY:
                raise ConfigError(f"reaction {text!r} uses an operator other than + - * / **; {_EXAMPLE}")
        elif not isinstance(child, (ast.operator, ast.unaryop, ast.Load)):
            raise ConfigError(f"reaction {text!r} may only use numbers, envelopes, + - * / ** and "
                              f"parentheses; {_EXAMPLE}")


def _number(value: float) -> np.float64:
    """A constant as float64: an integer beyond the float range is infinity (``float()`` would raise)."""
    try:
        return np.float64(value)
    except OverflowError:
        return np.float64(np.inf if value > 0 else -np.inf)


def _constant(node: ast.expr, text: str) -> np.float64 | None:
    """The value of ``node`` if it has no envelope (None otherwise); a part that is not finite is refused.

    Example:
        >>> _constant(ast.parse("2 ** 3 * low", mode="eval").body, "zoom *= 2 ** 3 * low") is None
        True
    """
    if isinstance(node, ast.Constant):
        value = _number(node.value)
    elif isinstance(node, ast.BinOp):
        left, right = _constant(node.left, text), _constant(node.right, text)
        if left is None or right is None:
            return None
        with np.errstate(all="ignore"):
            value = np.float64(_BINARY[type(node.op)](left, right))
    elif isinstance(node, ast.UnaryOp):
        operand = _constant(node.operand, text)
        if operand is None:
            return None
        value = _UNARY[type(node.op)](operand)
    else:
        return None
    if not np.isfinite(value):
        raise ConfigError(f"reaction {text!r}: {ast.unparse(node)[:60]} is not a finite number (a division by zero, "
                          f"or beyond ±1.8e308); change the expression")
    return value


def _evaluate(node: ast.expr, envelopes: Envelopes) -> np.ndarray | np.float64:
    """``node`` in float64 for every frame; call within ``np.errstate(all="ignore")``: nothing raises."""
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        return envelopes[node.id].astype(np.float64)
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, envelopes), _evaluate(node.right, envelopes))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, envelopes))
    raise ConfigError(f"cannot evaluate {ast.dump(node)}")  # unreachable after _check_expression
