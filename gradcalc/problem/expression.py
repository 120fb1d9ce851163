"""Expression problems: named steps parsed into expression trees, every variable defined before use."""
from __future__ import annotations

import numpy as np

from gradcalc import ops
from gradcalc.errors import ExpressionError
from gradcalc.problem.context import ValidationContext, value_kind
from gradcalc.ops.exprarray import out_shape, shape_error, shape_text
from gradcalc.problem.model import CONSTANTS, ExpressionProblem


def _shape_of(ctx: ValidationContext, path: tuple, step: str, node, shapes: dict) -> tuple:
    """The shape of step `step`, checking every operation's input shapes on the way (NumPy's
    broadcasting for elementwise ops): a mismatch is one error naming the step and both shapes."""
    from gradcalc.problem.exprparse import Call, Var
    out = {}
    stack = [(node, False)]
    while stack:                     # post-order without recursion
        current, done = stack.pop()
        if not isinstance(current, Call):
            out[id(current)] = shapes.get(current.name, ()) if isinstance(current, Var) else ()
            continue
        if not done:
            stack.append((current, True))
            stack.extend((arg, False) for arg in current.args)
            continue
        ins = [out[id(arg)] for arg in current.args]
        attrs = dict(current.attrs)
        why = shape_error(current.op, ins, attrs)
        if why is not None:
            raise ctx.error(path, f"{step}: {why}")
        out[id(current)] = out_shape(current.op, ins, attrs)
    return out[id(node)]


def expression_problem(ctx: ValidationContext, doc: dict, title: str) -> ExpressionProblem:
    from gradcalc.problem.exprparse import parse_expression, variables
    raw_steps = doc["expression"]
    if isinstance(raw_steps, str):
        items = [("f", raw_steps, ("expression",))]
    elif isinstance(raw_steps, dict) and raw_steps:
        items = [(k, v, ("expression", k)) for k, v in raw_steps.items()]
    else:
        raise ctx.error(("expression",), "expected an expression text or a mapping of named steps")

    values_raw = doc.get("values", {})
    if not isinstance(values_raw, dict):
        raise ctx.error(("values",), f"expected a mapping (values), got {value_kind(values_raw)}")
    functions = ops.expression_functions()
    values: dict = {}
    for name, v in values_raw.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise ctx.error(("values", name), f"'{name}' is not a valid variable name")
        if name in functions:
            raise ctx.error(("values", name), f"'{name}' is a function name; choose another name")
        # a number, a vector or a matrix (issue 15); numbers stay floats as before
        values[name] = (ctx.array(v, ("values", name), (1, 2), "a vector or a matrix")
                        if isinstance(v, list) else ctx.number(v, ("values", name)))
    shapes = {name: np.shape(v) for name, v in values.items()}
    steps = []
    defined = set(values)
    for name, text, path in items:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise ctx.error(path, f"'{name}' is not a valid step name")
        if name in values:
            raise ctx.error(path, f"'{name}' is both a step and a value")
        if name in functions:
            raise ctx.error(path, f"'{name}' is a function name; choose another step name")
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = repr(text)
        if not isinstance(text, str):
            raise ctx.error(path, f"expected an expression text, got {value_kind(text)}")
        try:
            node = parse_expression(text, functions)
        except ExpressionError as exc:
            raise ctx.error(path, exc.message) from None
        for var in variables(node):
            if var not in defined and var not in CONSTANTS:
                later = [n for n, _, _ in items if n == var]
                why = "is used before its step is defined" if later else "is not defined"
                import difflib    # on the error path only (start-up time)
                hint = difflib.get_close_matches(var, sorted(defined), n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ctx.error(path, f"variable '{var}' {why}; give it under 'values'{tip}")
        steps.append((name, node))
        defined.add(name)
        shapes[name] = _shape_of(ctx, path, name, node, shapes)
    if shapes[steps[-1][0]] != () and any(s != () for s in shapes.values()):
        last, _, path = items[-1]
        raise ctx.error(path, f"the output is step '{last}' of shape {shape_text(shapes[last])}; "
                              "gradients need a scalar output (sum it, e.g. sum(...), or add a step)")
    return ExpressionProblem(title, tuple(steps), values, ctx.loc.file, doc, ctx.loc)
