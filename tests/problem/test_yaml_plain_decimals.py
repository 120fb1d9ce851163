"""Plain decimals (0.126, -1.5, 3.) take a short way to their float tag while libyaml composes;
every scalar still gets the tag PyYAML's own resolver gives it, and the same value."""
import pytest
import yaml

from gradcalc.problem import yamlio

TEXTS = ["0.126", "-1.5", "3.", "007.25", "-0.0", "12", "-7", "1.5e3", "1e-3", "+1.5", ".5",
         "1_000.5", "1_0.5", "1:30.5", ".inf", "-.inf", ".nan", "2001-12-14", "yes", "null", "~",
         "1.2.3", "-.", "0x1F", "abc", "1.5 ", "'0.25'", '"0.25"']


@pytest.mark.skipif(yamlio._FastLoader is None, reason="libyaml not installed")
@pytest.mark.parametrize("text", TEXTS)
def test_each_scalar_gets_the_resolvers_tag_and_value(text):
    doc = f"a: {text}\nb: [{text}, {text}]\n"
    node = yamlio._compose(doc)
    want = yaml.compose(doc, Loader=yaml.SafeLoader)       # PyYAML's pure-Python resolver
    got_tags = [node.value[0][1].tag] + [n.tag for n in node.value[1][1].value]
    want_tags = [want.value[0][1].tag] + [n.tag for n in want.value[1][1].value]
    assert got_tags == want_tags
    if yamlio._PLAIN_DECIMAL.fullmatch(text):      # read as the float Python reads
        loaded = yamlio.load_yaml_text(doc).data
        assert loaded == {"a": float(text), "b": [float(text), float(text)]}
        assert all(type(v) is float for v in loaded["b"])

def test_plain_decimal_short_way_is_taken():
    assert yamlio._PLAIN_DECIMAL.fullmatch("-0.126")
    assert not yamlio._PLAIN_DECIMAL.fullmatch("1.5e3")   # left to the resolver
    assert not yamlio._PLAIN_DECIMAL.fullmatch("1_0.5")
