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
        "layout_full": "布局：每个梯度与其参数形状相同（∂L/∂W 为 输出 × 输入，与 W 相同）；"
                       "∂L/∂W 的 (i, j) 元素即 ∂L/∂Wᵢⱼ。下标与课堂一致，从 1 开始。",
    },
}


def pick(table: dict, lang: str) -> dict:
    """The `lang` entry of a module's {"en": {...}, "zh": {...}} word table (English if absent)."""
    return table.get(lang, table["en"])


def words(lang: str) -> dict[str, str]:
    return pick(WORDS, lang)


def is_network(problem) -> bool:
    """Networks have matrices (W is out × in); a scalar expression problem has none, and its
    write-ups carry no note about matrix shapes or layout."""
    return getattr(problem, "kind", "") == "network"


def layout_note(problem, lang: str, english: str = "") -> str:
    """The layout paragraph of the SymPy formulas (`english`, as the symbolic derivation words
    it) in `lang`; nothing for a scalar expression problem."""
    if not is_network(problem):
        return ""
    return in_out_words(problem, WORDS["zh"]["layout_full"] if lang == "zh" else english)


def in_out_words(problem, text: str) -> str:
    """A layout note as it holds for `problem`: W is out × in, or in × out with `layout: in_out`
    (the gradients keep the parameter's shape either way)."""
    if getattr(problem, "layout", "out_in") != "in_out":
        return text
    return text.replace("out × in", "in × out").replace("输出 × 输入", "输入 × 输出")


# English phrases that reach the tables from the layers below render (op labels and local
# derivative texts of the registry, SymPy's formula notes, the comparison's notices and kink
# reasons), in the lecture's Chinese.  Fixed phrases first, then the ones with numbers in them.
PHRASES_ZH = [
    ("(mean over the batch)", "（对批量取平均）"),
    ("(other entries 0)", "（其余元素为 0）"),
    ("(elementwise)", "（逐元素）"),
    ("(cut; see --format json)", "（已截断，完整公式见 --format json）"),
    ("(row t only)", "（仅第 t 行）"),
    ("(a reshape: each gradient goes back to its entry)", "（形状变换：每个梯度回到它的元素）"),
    ("1 at the first maximum of each window, 0 elsewhere (the gradient is routed there)",
     "每个窗口的第一个最大值处为 1，其余为 0（梯度只传到那里）"),
    (" for every entry of its window", "（对其窗口中的每个元素）"),
    ("1 for its own row", "1（仅对其自身所在的行）"),
    ("the input patch of each output: ", "每个输出对应的输入块："),
    ("⋆ upstream (correlation)", "⋆ 上游梯度（互相关）"),
    ("; −count at label", "；标签处为 −（margin_j > 0 的个数）"),
    ("max pool", "最大池化"), ("average pool", "平均池化"), (" array)", " 数组)"),
    ("mean over the batch", "对批量取平均"),
    (" with δ = 𝟙", "（取 δ = 𝟙）"), (", then softmax′ row by row", "，再逐行乘以 softmax′"),
    ("1 at the transposed entry", "转置位置上为 1"), (" (scalar)", " (标量)"),   # issue 15
    # why grade left a path out (grading/answerfiles.py)
    ("the output folder of this run (not read)", "本次运行的输出文件夹（不读取）"),
    ("an output folder of gradcalc (not read)", "gradcalc 的输出文件夹（不读取）"),
    ("a symlink to a missing file", "指向不存在文件的符号链接"),
    ("a symlink to a folder (not followed)", "指向文件夹的符号链接（不跟随）"),
    ("a symlink leading out of the submissions folder (not followed)",
     "指向提交文件夹之外的符号链接（不跟随）"),
    ("the problem file of this run (not read)", "本次运行的题目文件（不读取）"),
    ("the roster of this run (not read)", "本次运行的名单（不读取）"),
    ("a FIFO (not opened)", "FIFO（未打开）"), ("a device (not opened)", "设备文件（未打开）"),
    ("a socket (not opened)", "套接字（未打开）"),
    ("not a regular file (not opened)", "不是普通文件（未打开）"),
    ("relu'(0) = 0, leaky_relu'(0) = alpha, abs'(0) = 0, a hinge term at margin 0 contributes 0, "
     "a max/min tie gives ½ to each argument; a max pool sends the gradient to the first maximum "
     "of its window (row-major)",
     "relu'(0) = 0，leaky_relu'(0) = alpha，abs'(0) = 0，间隔恰为 0 的 hinge 项贡献 0，"
     "max/min 相等时两个参数各得 ½；最大池化把梯度传给窗口中（按行优先）第一个最大值"),
    ("symbolic method skipped: ", "符号方法已跳过："),
    (", the correlation of the input with the upstream gradient: ", "，即输入与上游梯度的互相关："),
    (", one sum per output channel", "，每个输出通道求一次和"),
    (" (full convolution)", "（完全卷积）"),
    (" (a variant template with random numbers)", "（含随机数的题目变体模板）"),
    (": skipped", "：已跳过"),
    ("the SymPy forms would be too large to differentiate in reasonable time",
     "SymPy 表达式过大，无法在合理时间内求导"),
    # batchnorm, layernorm, dropout, embedding (gradcalc.graph.normgraph, gradcalc.ops)
    (" (one row per position; rows of W hit twice add)", "（每个位置一行；被取两次的行相加）"),
    (" (diagonal)", "（对角线）"),
]
_PATTERNS_ZH = [
    (r"\b(max|mean) of each (\S+) window of (\S+) \(stride (\d+)\)",
     lambda m: f"{m[3]} 的每个 {m[2]} 窗口取{'最大值' if m[1] == 'max' else '平均值'}"
               f"（步长 {m[4]}）"),
    (r"\b(max|mean) over each window of (\S+)",
     lambda m: f"{m[2]} 的每个窗口取{'最大值' if m[1] == 'max' else '平均值'}"),
    (r" ?\(δ dilated by stride (\d+)\)", lambda m: f"（δ 按步长 {m[1]} 扩张）"),
    (r", a full convolution: slide rot180\((\S+)\) over (\S+) padded with k−1 zeros",
     lambda m: f"，即完全卷积：把 rot180({m[1]}) 在补了 k−1 圈零的 {m[2]} 上滑动"),
    (r"a full correlation: slide (\S+) itself \(not flipped\) over (\S+) padded with k−1 zeros",
     lambda m: f"即完全互相关：把 {m[1]} 本身（不翻转）在补了 k−1 圈零的 {m[2]} 上滑动"),
    (r" \(stride (\d+): first put (\d+) zeros? between the entries of (\S+)\)",
     lambda m: f"（步长 {m[1]}：先在 {m[3]} 的相邻元素之间插入 {m[2]} 个零）"),
    (r", then drop the (\d+) padded border", lambda m: f"，再去掉 {m[1]} 圈填充的边"),
    (r"(\S+) = (\S+) ∗ (\S+) uses the kernel flipped, so ",
     lambda m: f"{m[1]} = {m[2]} ∗ {m[3]} 用的是翻转后的卷积核，因此 "),
    (r"\bupstream\b", lambda m: "上游梯度"),
    (r"\(([^()]+?) if ([^()]+?) else ([^()]+?)\)", lambda m: f"（{m[2]} 时为 {m[1]}，否则为 {m[3]}）"),
    (r"^for$", lambda m: "当"), (r"^otherwise$", lambda m: "其他情况"),
    (r"\(verified: max rel\.(?:\\ | )error ([^()]*)\)", lambda m: f"（已验证：最大相对误差 {m[1]}）"),
    (r"not an answer file \(([^;()]*); expected ([^()]*)\)",
     lambda m: f"不是答案文件（{'无后缀' if m[1] == 'no suffix' else m[1]}；应为 {m[2]}）"),
    (r"a (\S+) written by gradcalc \(not read\)", lambda m: f"gradcalc 写出的 {m[1]}（不读取）"),
    (r"cannot read the folder \(([^()]*)\)", lambda m: f"无法读取该文件夹（{m[1]}）"),
    (r"cannot read \(([^()]*)\)", lambda m: f"无法读取（{m[1]}）"),
    (r"the (\S+) input crosses its kink between θ − h and θ \+ h",
     lambda m: f"{m[1]} 的输入在 θ − h 与 θ + h 之间越过不可导点"),
    (r"(\d+) differentiated entries > the limit (\d+) \(raise it with --symbolic-limit\)",
     lambda m: f"求导的分量数 {m[1]} 超过上限 {m[2]}（可用 --symbolic-limit 调高）"),
    (r"numeric: (\d+) random entries per parameter \(seed (\d+)\)",
     lambda m: f"数值：每个参数随机抽取 {m[1]} 个分量（种子 {m[2]}）"),
    (r"Closed forms left out: the graph has (\d+) partial derivatives \(> (\d+)\); the local "
     r"derivatives above give every step\.",
     lambda m: f"未给出闭式表达：计算图有 {m[1]} 个偏导数（> {m[2]}）；上面的局部梯度给出了每一步。"),
]


_LONGEST_FIRST = sorted(PHRASES_ZH, key=lambda p: -len(p[0]))


def zh_text(text: str) -> str:
    """`text` with the English phrases of the layers below render put in Chinese."""
    import re
    if not text or not any("a" <= c <= "z" for c in text):
        return text
    for en, zh in _LONGEST_FIRST:      # a phrase inside a longer one waits for it
        text = text.replace(en, zh)
    for pattern, repl in _PATTERNS_ZH:
        text = re.sub(pattern, repl, text)
    return text


def zh_latex(text: str) -> str:
    """LaTeX (in markdown $$…$$ blocks) with the words of its \\text{…} in Chinese: words
    printed one \\text each are joined first (\\text{mean}\\ \\text{over} → \\text{mean over})."""
    import re
    word = r"\\text\{([^{}]*)\}"
    joined = re.compile(word + r"\\ " + word)
    while joined.search(text):
        text = joined.sub(lambda m: r"\text{" + m[1] + " " + m[2] + "}", text)
    # a pooling formula: \max \text{of each} 2\times 2 \text{window of} {h} (\text{stride} 2)
    text = re.sub(r"(\\max \\text\{of each\}|\\text\{(?:max|mean) of each\}) (.+?) "
                  r"\\text\{window of\} (\\text\{[^{}]*\}|\{.*?\}|\S+) \(\\text\{stride\} (\d+)\)",
                  lambda m: (m[3] + r" \text{ 的每个 }" + m[2] + r"\text{ 窗口取"
                             + ("最大值" if "max" in m[1] else "平均值") + "（步长 " + m[4] + "）}"),
                  text)
    text = re.sub(r"\(" + word + r"\)", lambda m: r"\text{(" + m[1] + ")}", text)
    return re.sub(word, lambda m: r"\text{" + zh_text(m[1]) + "}", text)


def localize(tables, lang: str):
    """The tables with their texts in `lang` (the words of the tables are picked by the
    builders; this puts the phrases that come from below render in Chinese too)."""
    if lang != "zh":
        return tables
    for t in tables:
        t.title, t.note = zh_text(t.title), zh_text(t.note)
        t.columns = [zh_text(c) for c in t.columns]
        t.rows = [[zh_text(c) for c in r] for r in t.rows]
    return tables
