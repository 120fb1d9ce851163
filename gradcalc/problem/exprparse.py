"""Safe hand-written parser of scalar arithmetic expressions into Num/Var/Call trees."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Union

from gradcalc.errors import ExpressionError

MAX_LENGTH = 10_000   # characters of expression text
MAX_DEPTH = 200       # nesting of parentheses/unary signs/powers, and depth of the resulting tree


@dataclass(frozen=True)
class Num:
    """A numeric literal; text is the literal as written (e.g. "0.4")."""
    value: float
    text: str


@dataclass(frozen=True)
class Var:
    """A variable (or a constant such as pi, which the caller interprets)."""
    name: str


@dataclass(frozen=True)
class Call:
    """An operation: add/sub/mul/div/pow/neg/matmul/transpose or a function name as written;
    attrs holds keyword arguments as (name, value) pairs: sum(A, axis=0) is sum_axis with axis 0."""
    op: str
    args: tuple
    attrs: tuple = ()


Node = Union[Num, Var, Call]

# Binary infix operators of the expression grammar: symbol -> (operation name, precedence).
BINARY_OPS = {"+": ("add", 1), "-": ("sub", 1), "*": ("mul", 2), "/": ("div", 2), "@": ("matmul", 2)}
# keyword arguments: sum(A, axis=0) and mean(A, axis=1) reduce one axis (ops sum_axis, mean_axis)
AXIS_FUNCTIONS = {"sum": "sum_axis", "mean": "mean_axis"}


class _Token(NamedTuple):
    kind: str   # "num", "name", "call" (a name followed by "("), "end", "T" (a postfix .T),
                # "kw" (a keyword argument's name and its "="), or an operator "+-*/@^(),"
    text: str   # as written
    col: int    # 1-based column


_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_TAIL = re.compile(r"[A-Za-z0-9_.]*")
_SPACE = " \t\r\n\f\v"


def _error(message: str, col: int) -> ExpressionError:
    return ExpressionError(f"{message} at column {col}", column=col)


def _unknown_function(name: str, functions: Mapping[str, int]) -> str:
    import difflib    # on the error path only (start-up time)
    close = difflib.get_close_matches(name, list(functions), n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    elif functions:
        hint = "known functions: " + ", ".join(sorted(functions))
    else:
        hint = "no functions are available"
    return f"unknown function {name!r} ({hint})"


def _tokenize(text: str, functions: Mapping[str, int]) -> list[_Token]:
    """Split text into tokens; reject anything that is not plain arithmetic."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch, col = text[i], i + 1
        if ch in _SPACE:
            i += 1
        elif number := _NUMBER.match(text, i):
            literal = number.group()
            tail = _WORD_TAIL.match(text, number.end()).group()
            if tail:
                raise _error(f"malformed number {literal + tail!r}", col)
            if not math.isfinite(float(literal)):
                raise _error(f"number out of range: {literal!r}", col)
            tokens.append(_Token("num", literal, col))
            i = number.end()
        elif word := _NAME.match(text, i):
            name = word.group()
            if name.startswith("__"):
                raise _error("names starting with '__' are not allowed", col)
            if name == "lambda":
                raise _error("'lambda' is not allowed", col)
            j = word.end()
            while j < n and text[j] in _SPACE:
                j += 1
            is_call = j < n and text[j] == "("
            if j < n and text[j] == "=" and not text.startswith("==", j) and tokens \
                    and tokens[-1].kind == ",":
                tokens.append(_Token("kw", name, col))
                i = j + 1
                continue
            if is_call and name not in functions:
                raise _error(_unknown_function(name, functions), col)
            tokens.append(_Token("call" if is_call else "name", name, col))
            i = word.end()
        elif text.startswith("**", i):
            tokens.append(_Token("^", "**", col))
            i += 2
        elif ch in "+-*/@^(),":
            tokens.append(_Token(ch, ch, col))
            i += 1
        elif ch == ".":
            attr = _NAME.match(text, i + 1)
            if tokens and tokens[-1].kind in ("name", ")", "T") and attr and attr.group() == "T":
                tokens.append(_Token("T", ".T", col))     # the transpose, the one attribute
                i = attr.end()
                continue
            if tokens and tokens[-1].kind in ("name", "num", ")", "T"):
                shown = f" ('.{attr.group()}'; only .T, the transpose)" if attr else ""
                raise _error(f"'.' attribute access is not allowed{shown}", col)
            raise _error("unexpected '.'", col)
        elif ch in "'\"":
            raise _error("strings are not allowed", col)
        elif ch in "[]":
            raise _error("subscripts are not allowed", col)
        else:
            raise _error(f"unexpected character {ch!r}", col)
    tokens.append(_Token("end", "end of expression", n + 1))
    return tokens


class _Parser:
    """Operator precedence for + - * / (explicit stacks), recursion only for nesting."""

    def __init__(self, tokens: list[_Token], functions: Mapping[str, int]):
        self.tokens = tokens
        self.functions = functions
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    @staticmethod
    def unexpected(token: _Token) -> ExpressionError:
        if token.kind == "end":
            return _error("unexpected end of expression", token.col)
        if token.kind == ",":
            return _error("commas are only allowed between function arguments", token.col)
        return _error(f"unexpected {token.text!r}", token.col)

    def parse(self) -> Node:
        node = self.expr()
        token = self.peek()
        if token.kind == ")":
            raise _error("unmatched ')'", token.col)
        if token.kind != "end":
            raise self.unexpected(token)
        return node

    def expr(self) -> Node:
        """operand (binop operand)*, left-associative, reduced by precedence."""
        operands, ops = [self.operand()], []
        while self.peek().kind in BINARY_OPS:
            op = self.advance().kind
            while ops and BINARY_OPS[ops[-1]][1] >= BINARY_OPS[op][1]:
                self.reduce(operands, ops)
            ops.append(op)
            operands.append(self.operand())
        while ops:
            self.reduce(operands, ops)
        return operands[0]

    @staticmethod
    def reduce(operands: list, ops: list) -> None:
        right, left = operands.pop(), operands.pop()
        operands.append(Call(BINARY_OPS[ops.pop()][0], (left, right)))

    def operand(self) -> Node:
        """('+'|'-')* primary ('^' operand)?  -- so -x^2 = -(x^2) and 2^-1 is allowed."""
        signs = []
        while self.peek().kind in ("+", "-"):
            signs.append(self.advance().kind)
        self.depth += 1 + len(signs)
        if self.depth > MAX_DEPTH:
            raise _error("expression nested too deeply", self.peek().col)
        token = self.advance()
        if token.kind == "num":
            node: Node = Num(float(token.text), token.text)
        elif token.kind == "name":
            node = Var(token.text)
        elif token.kind == "call":
            node = self.call(token)
        elif token.kind == "(":
            node = self.expr()
            self.close(token)
        else:
            raise self.unexpected(token)
        while self.peek().kind == "T":
            self.advance()
            node = Call("transpose", (node,))
        if self.peek().kind == "^":
            self.advance()
            node = Call("pow", (node, self.operand()))
        for sign in reversed(signs):
            if sign == "-":
                node = Call("neg", (node,))
        self.depth -= 1 + len(signs)
        return node

    def call(self, name: _Token) -> Call:
        opening = self.advance()  # the tokenizer guarantees "(" follows a call name
        args = []
        if self.peek().kind != ")":
            args.append(self.expr())
            while self.peek().kind == ",":
                self.advance()
                if self.peek().kind == "kw":
                    return self.keyword_call(name, opening, args)
                args.append(self.expr())
        self.close(opening)
        arity = self.functions[name.text]
        if len(args) != arity:
            plural = "" if arity == 1 else "s"
            raise _error(f"{name.text}() takes {arity} argument{plural}, got {len(args)}", name.col)
        return Call(name.text, tuple(args))

    def keyword_call(self, name: _Token, opening: _Token, args: list) -> Call:
        """sum(A, axis=k) / mean(A, axis=k): one array, then axis= a non-negative integer."""
        kw = self.advance()
        if name.text not in AXIS_FUNCTIONS or kw.text != "axis":
            what = " or ".join(f"{f}(A, axis=k)" for f in AXIS_FUNCTIONS)
            raise _error(f"keyword argument '{kw.text}=' is not allowed (only {what})", kw.col)
        if len(args) != 1:
            raise _error(f"{name.text}(A, axis=k) takes one array, got {len(args)}", name.col)
        value = self.advance()
        if value.kind != "num" or not value.text.isdigit():
            raise _error("axis= expects a whole number (0 for columns, 1 for rows)", value.col)
        self.close(opening)
        return Call(AXIS_FUNCTIONS[name.text], tuple(args), (("axis", int(value.text)),))

    def close(self, opening: _Token) -> None:
        token = self.peek()
        if token.kind == ")":
            self.advance()
        elif token.kind == "end":
            raise _error("unclosed '('", opening.col)
        else:
            raise self.unexpected(token)


def _tree_depth(node: Node) -> int:
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(current, Call):
            stack.extend((arg, depth + 1) for arg in current.args)
    return deepest


def parse_expression(text: str, functions: Mapping[str, int]) -> Node:
    """Parse text into a tree; functions maps each allowed function name to its arity."""
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression too long ({len(text)} characters, limit {MAX_LENGTH})")
    if not text.strip(_SPACE):
        raise ExpressionError("empty expression")
    node = _Parser(_tokenize(text, functions), functions).parse()
    # A long flat sum is parsed without recursion but would make a deep tree: keep trees
    # shallow so that recursive consumers (to_text, evaluation) never hit RecursionError.
    if _tree_depth(node) > MAX_DEPTH:
        raise ExpressionError(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
    return node


def variables(node: Node) -> list[str]:
    """Variable names in order of first appearance (left to right)."""
    seen: dict[str, None] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Var):
            seen.setdefault(current.name, None)
        elif isinstance(current, Call):
            stack.extend(reversed(current.args))
    return list(seen)


_INFIX = {name: (symbol, prec) for symbol, (name, prec) in BINARY_OPS.items()}
_NEG, _POW, _ATOM = 3, 4, 5


def _precedence(node: Node) -> int:
    if isinstance(node, Call):
        if node.op in _INFIX and len(node.args) == 2:
            return _INFIX[node.op][1]
        if node.op == "neg" and len(node.args) == 1:
            return _NEG
        if node.op == "pow" and len(node.args) == 2:
            return _POW
    if isinstance(node, Num) and node.text.startswith("-"):
        return _NEG
    return _ATOM


def _wrapped(node: Node, min_prec: int) -> str:
    text = to_text(node)
    return text if _precedence(node) >= min_prec else f"({text})"


def to_text(node: Node) -> str:
    """Readable infix text with minimal parentheses; parses back to the same tree."""
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Var):
        return node.name
    prec = _precedence(node)
    if node.op == "transpose" and len(node.args) == 1 and _precedence(node.args[0]) == _ATOM \
            and not isinstance(node.args[0], Num):
        return to_text(node.args[0]) + ".T"
    if node.attrs:
        name = {v: k for k, v in AXIS_FUNCTIONS.items()}.get(node.op, node.op)
        keywords = "".join(f", {k}={v}" for k, v in node.attrs)
        return f"{name}({', '.join(to_text(arg) for arg in node.args)}{keywords})"
    if prec == _ATOM:
        return f"{node.op}({', '.join(to_text(arg) for arg in node.args)})"
    if prec == _NEG:
        return "-" + _wrapped(node.args[0], _ATOM)
    left, right = node.args
    if prec == _POW:
        return f"{_wrapped(left, _ATOM)} ^ {_wrapped(right, _NEG)}"
    return f"{_wrapped(left, prec)} {_INFIX[node.op][0]} {_wrapped(right, prec + 1)}"
