"""fmt.num: significant digits, whole numbers as written, two decimals below 100, checked by
hand and against a plain restatement of the rule on many numbers."""
import math
import random

import numpy as np

from gradcalc.render import fmt


def _reference(x: float, precision: int) -> str:
    x = float(x)
    if x == 0:
        return "0"
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == round(x) and abs(x) < 1e15:
        return str(int(x))
    text = "%.*g" % (precision, x)
    if "e" in text and 1e-5 <= abs(x) < 1e6:
        text = ("%.*f" % (precision + 4, x)).rstrip("0").rstrip(".")
    if "e" not in text and precision >= 2 and abs(x) < 100:
        decimals = len(text.split(".")[1]) if "." in text else 0
        if decimals < 2:
            text = "%.2f" % x
    return text


def test_by_hand():
    assert fmt.num(0.0) == "0" and fmt.num(-0.0) == "0"
    assert fmt.num(2.0) == "2" and fmt.num(-3) == "-3"
    assert fmt.num(0.5) == "0.50" and fmt.num(-0.2) == "-0.20" and fmt.num(1.5) == "1.50"
    assert fmt.num(0.123456) == "0.1235"
    assert fmt.num(123.456) == "123.5"
    assert fmt.num(3.2e-5) == "0.000032"
    assert fmt.num(1.5e-7) == "1.5e-07"
    assert fmt.num(2.5e17) == "2.5e+17"
    assert fmt.num(float("nan")) == "nan" and fmt.num(float("-inf")) == "-inf"
    assert fmt.value(np.array([0.5, 2.0, -1.25])) == "[0.50, 2, -1.25]"
    assert fmt.value(np.array([True, False])) == "[1, 0]"


def test_against_the_rule_on_many_numbers():
    rng = random.Random(11)
    xs = [1e15, -1e15, 1e15 - 1, 999999.5, 1e6, 1e-5, 9.99995e-6, 99.999, 100.0, -99.9999,
          5e-324, 1e300, 2.675, 0.125]
    for _ in range(20000):
        v = rng.choice([-1, 1]) * 10 ** rng.uniform(-20, 20)
        xs += [v, round(v, rng.randint(0, 5))]
    for precision in (1, 2, 3, 4, 6, 10, 17):
        for x in xs:
            assert fmt.num(x, precision) == _reference(x, precision), (x, precision)
    a = np.array(xs[:300])
    assert fmt.value(a[:150]) == "[" + ", ".join(_reference(x, 4) for x in xs[:150]) + "]"
