"""Tests of the safe expression parser gradcalc.exprparse."""
import ast
import time
from pathlib import Path

import pytest

from gradcalc.problem import exprparse
from gradcalc.errors import ExpressionError
from gradcalc.problem.exprparse import Call, Num, Var, parse_expression, to_text, variables

FUNCS = {"exp": 1, "log": 1, "sqrt": 1, "abs": 1, "sin": 1, "cos": 1, "tanh": 1,
         "sigmoid": 1, "relu": 1, "max": 2, "min": 2}


def p(text):
    return parse_expression(text, FUNCS)


def N(text):
    return Num(float(text), text)


def V(name):
    return Var(name)


def C(op, *args):
    return Call(op, tuple(args))


x, y, z = V("x"), V("y"), V("z")


@pytest.mark.parametrize("text, tree", [
    ("x + y * z", C("add", x, C("mul", y, z))),
    ("x * y + z", C("add", C("mul", x, y), z)),
    ("x - y - z", C("sub", C("sub", x, y), z)),
    ("x / y / z", C("div", C("div", x, y), z)),
    ("x - y + z", C("add", C("sub", x, y), z)),
    ("x / y * z", C("mul", C("div", x, y), z)),
    ("x - (y - z)", C("sub", x, C("sub", y, z))),
    ("x ^ y ^ z", C("pow", x, C("pow", y, z))),
    ("x ** y ** z", C("pow", x, C("pow", y, z))),
    ("(x ^ y) ^ z", C("pow", C("pow", x, y), z)),
    ("-x ^ 2", C("neg", C("pow", x, N("2")))),
    ("(-x) ^ 2", C("pow", C("neg", x), N("2"))),
    ("2 ^ -1", C("pow", N("2"), C("neg", N("1")))),
    ("2 ** -x ^ 2", C("pow", N("2"), C("neg", C("pow", x, N("2"))))),
    ("2 ^ -x * 3", C("mul", C("pow", N("2"), C("neg", x)), N("3"))),
    ("-x * y", C("mul", C("neg", x), y)),
    ("x * -y", C("mul", x, C("neg", y))),
    ("x - -y", C("sub", x, C("neg", y))),
    ("--x", C("neg", C("neg", x))),
    ("+x", x),
    ("+-+x", C("neg", x)),
    ("2 * x ^ 3", C("mul", N("2"), C("pow", x, N("3")))),
    ("a + b * c ^ d - e / f",
     C("sub", C("add", V("a"), C("mul", V("b"), C("pow", V("c"), V("d")))),
       C("div", V("e"), V("f")))),
    ("max(x, y + 1)", C("max", x, C("add", y, N("1")))),
    ("exp (x)", C("exp", x)),
    ("\t x\n+  y ", C("add", x, y)),
    ("pi * e", C("mul", V("pi"), V("e"))),
    ("x_1 + _y2", C("add", V("x_1"), V("_y2"))),
])
def test_precedence_and_associativity(text, tree):
    assert p(text) == tree


@pytest.mark.parametrize("literal", ["12", "0.5", ".5", "5.", "1e-3", "2.5E+4", "0", "1e-999"])
def test_numbers_keep_text(literal):
    node = p(literal)
    assert node == Num(float(literal), literal)
    assert node.text == literal


def test_lecture_expressions():
    assert p("(x + y) * z") == C("mul", C("add", x, y), z)
    w0, w1, w2, x0, x1 = (V(n) for n in ("w0", "w1", "w2", "x0", "x1"))
    inner = C("add", C("add", C("mul", w0, x0), C("mul", w1, x1)), w2)
    tree = p("1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))")
    assert tree == C("div", N("1"), C("add", N("1"), C("exp", C("neg", inner))))
    assert to_text(tree) == "1 / (1 + exp(-(w0 * x0 + w1 * x1 + w2)))"
    assert variables(tree) == ["w0", "x0", "w1", "x1", "w2"]


def error_of(text, functions=FUNCS):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, functions)
    err = info.value
    if err.column is not None:
        assert f"at column {err.column}" in str(err)
    return err


@pytest.mark.parametrize("text, message, column", [
    ("max(x)", "max() takes 2 arguments, got 1", 1),
    ("x + min(1, 2, 3)", "min() takes 2 arguments, got 3", 5),
    ("exp(x, y)", "exp() takes 1 argument, got 2", 1),
    ("exp()", "exp() takes 1 argument, got 0", 1),
])
def test_arity_errors(text, message, column):
    err = error_of(text)
    assert message in str(err)
    assert err.column == column


def test_zero_arity_function():
    assert parse_expression("f() + 1", {"f": 0}) == C("add", C("f"), N("1"))


def test_unknown_function_suggestion():
    err = error_of("2 * exq(x)")
    assert "unknown function 'exq' (did you mean 'exp'?)" in str(err)
    assert err.column == 5
    err = error_of("zzz(x)")
    assert "unknown function 'zzz' (known functions: abs, cos, exp" in str(err)
    err = error_of("f(x)", {})
    assert "unknown function 'f'" in str(err)


@pytest.mark.parametrize("text, message, column", [
    ("__import__('os')", "names starting with '__' are not allowed", 1),
    ("x + __y", "names starting with '__' are not allowed", 5),
    ("x.__class__", "'.' attribute access is not allowed", 2),
    ("x.y", "'.' attribute access is not allowed", 2),
    ("().__class__", "'.' attribute access is not allowed", 3),
    ("1 .real", "'.' attribute access is not allowed", 3),
    ("x[0]", "subscripts are not allowed", 2),
    ("lambda: 1", "'lambda' is not allowed", 1),
    ("'a'", "strings are not allowed", 1),
    ('x + "a"', "strings are not allowed", 5),
    ("exec('1')", "unknown function 'exec'", 1),
    ("getattr(x, 'y')", "unknown function 'getattr'", 1),
    ("x, y", "commas are only allowed between function arguments", 2),
    ("(x, y)", "commas are only allowed between function arguments", 3),
    ("x; y", "unexpected character ';'", 2),
    ("x = 1", "unexpected character '='", 3),
    ("x & y", "unexpected character '&'", 3),      # (@ is the matrix product since issue 15)
    ("x != y", "unexpected character '!'", 3),
    ("x % y", "unexpected character '%'", 3),
    ("(x + 1", "unclosed '('", 1),
    ("max(x, (y)", "unclosed '('", 4),
    ("x + 1)", "unmatched ')'", 6),
    ("()", "unexpected ')'", 2),
    ("x +", "unexpected end of expression", 4),
    ("x * * y", "unexpected '*'", 5),
    ("x   y", "unexpected 'y' at column 5", 5),
    ("x y", "unexpected 'y'", 3),
    ("exp(x,)", "unexpected ')'", 7),
    ("1e999", "number out of range", 1),
    ("x + 1.2.3", "malformed number '1.2.3'", 5),
    ("1_000", "malformed number", 1),
    ("0x1F", "malformed number", 1),
    ("2x", "malformed number", 1),
    ("é + 1", "unexpected character 'é'", 1),
    ("xé", "unexpected character 'é'", 2),
    ("x + .", "unexpected '.'", 5),
])
def test_rejected_inputs(text, message, column):
    err = error_of(text)
    assert message in str(err)
    assert err.column == column


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_input(text):
    assert "empty expression" in str(error_of(text))


@pytest.mark.parametrize("text", [
    "(" * 1000 + "1" + ")" * 1000,
    "-" * 100000,
    "-" * 5000 + "x",
    "x ^ " * 2000 + "x",
    "exp(" * 1000 + "x" + ")" * 1000,
    " + ".join(["x"] * 300),      # flat, but a deep tree
])
def test_deep_or_huge_input_rejected_fast(text):
    start = time.perf_counter()
    err = error_of(text)
    assert time.perf_counter() - start < 1.0
    assert "nested too deeply" in str(err) or "too long" in str(err)


def test_limits():
    assert "too long" in str(error_of("x" + " " * 10000))
    assert p("x" + " " * 9999) == x
    assert "nested too deeply" in str(error_of("(" * 200 + "x" + ")" * 200))
    assert p("(" * 150 + "x" + ")" * 150) == x
    assert p(" + ".join(["x"] * 150)) is not None


def test_non_string_rejected():
    with pytest.raises(ExpressionError):
        parse_expression(3, FUNCS)


@pytest.mark.parametrize("text, expected", [
    ("(x + y) * z", "(x + y) * z"),
    ("1/(1+exp(-(w0*x0)))", "1 / (1 + exp(-(w0 * x0)))"),
    ("-x^2", "-(x ^ 2)"),
    ("(-x)^2", "(-x) ^ 2"),
    ("x-(y-z)", "x - (y - z)"),
    ("x-y-z", "x - y - z"),
    ("x/(y*z)", "x / (y * z)"),
    ("x/y*z", "x / y * z"),
    ("x*(y/z)", "x * (y / z)"),
    ("2^-1", "2 ^ -1"),
    ("2**-x**2", "2 ^ -(x ^ 2)"),
    ("(a^b)^c", "(a ^ b) ^ c"),
    ("a^b^c", "a ^ b ^ c"),
    ("(a*b)^(c+d)", "(a * b) ^ (c + d)"),
    ("--x", "-(-x)"),
    ("-(x*y)", "-(x * y)"),
    ("x*-y", "x * -y"),
    ("x - -y", "x - -y"),
    ("-x + y", "-x + y"),
    ("max(x,min(y,.5))", "max(x, min(y, .5))"),
    ("sqrt(x*x + y*y) / 2.", "sqrt(x * x + y * y) / 2."),
    ("((x))", "x"),
    ("1e-3 * tanh(x)", "1e-3 * tanh(x)"),
    ("x + (y + z)", "x + (y + z)"),
])
def test_to_text_round_trip(text, expected):
    tree = p(text)
    assert to_text(tree) == expected
    assert p(to_text(tree)) == tree


def test_to_text_of_hand_built_trees():
    trees = [
        C("neg", C("neg", C("pow", x, N("2")))),
        C("pow", C("neg", x), C("neg", y)),
        C("sub", C("neg", x), C("add", y, z)),
        C("div", C("mul", x, y), C("div", y, z)),
        C("exp", C("sigmoid", C("relu", C("neg", x)))),
    ]
    for tree in trees:
        assert p(to_text(tree)) == tree


def test_variables():
    assert variables(p("y * x + exp(y) + z")) == ["y", "x", "z"]
    assert variables(p("max(b, a) - a ^ c")) == ["b", "a", "c"]
    assert variables(p("2 * 3.5")) == []
    assert variables(p("pi * e")) == ["pi", "e"]


def test_module_uses_no_dynamic_evaluation():
    source = Path(exprparse.__file__).read_text(encoding="utf-8")
    builtins = {"eval", "exec", "compile", "__import__"}
    helpers = {"literal_eval", "sympify", "parse_expr", "eval", "exec"}
    names, attrs = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            attrs.add(node.attr)
    assert not names & builtins
    assert not attrs & helpers
