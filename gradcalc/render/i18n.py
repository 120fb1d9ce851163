"""The words of the tables in English and in the lecture's Chinese."""
from __future__ import annotations

WORDS = {
    "en": {
        "forward": "Forward pass",
        "backward": "Backward pass (reverse topological order)",
        "gradients": "Gradients",
        "name": "name",
        "formula": "formula",
        "value": "value",
        "node": "node",
        "operation": "operation",
        "upstream": "upstream gradient",
        "local": "local gradient",
        "downstream": "downstream gradient",
        "gradient": "gradient",
        "rule": "upstream × local = downstream",
        "layout": "Gradients have the shape of their parameter (W is out × in).",
    },
    "zh": {
        "forward": "前向计算",
        "backward": "反向传播（逆拓扑顺序）",
        "gradients": "梯度",
        "name": "名称",
        "formula": "公式",
        "value": "值",
        "node": "节点",
        "operation": "运算",
        "upstream": "上游梯度",
        "local": "局部梯度",
        "downstream": "下游梯度",
        "gradient": "梯度",
        "rule": "上游梯度 × 局部梯度 = 下游梯度",
        "layout": "梯度与对应参数形状相同（W 为 输出 × 输入）。",
    },
}


def pick(table: dict, lang: str) -> dict:
    """The `lang` entry of a module's {"en": {...}, "zh": {...}} word table (English if absent)."""
    return table.get(lang, table["en"])


def words(lang: str) -> dict[str, str]:
    return pick(WORDS, lang)
