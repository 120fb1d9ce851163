"""Words and number texts shared by the grading outputs: phrases, scores, percents, student text in markdown."""
from __future__ import annotations

import functools
import re

from gradcalc.csvsafe import printable
from gradcalc.render.i18n import pick

WORDS = {
    "en": {
        "feedback": "Feedback", "student": "Student", "score": "Score", "status": "Status",
        "question": "question", "points": "points", "result": "result", "given": "given",
        "accepted": "accepted", "why": "why", "ungraded": "Also answered (not graded)",
        "correct": "correct",
        "rounding": "correct (consistent with your rounded earlier answers)",
        "partial": "{k} of {n} entries correct; wrong: {entries}",
        "wrong": "wrong",
        "all_wrong": "wrong (no entry within the accepted interval)",
        "follow_through": "consistent with your {names} (follow-through, {pct}% credit)",
        "mistake": "{text} (a classic mistake; {pct}% credit)",
        "also_mistake": "it matches a classic mistake: {text}",
        "shape": "wrong shape: expected {expected}, got {got}",
        "blank": "not answered",
        "unreadable": "could not be read: {error}",
        "number": "a number", "blank_entry": "_",
        "hidden": "(hidden)",
        "summary": "Grading summary", "submissions": "submissions",
        "graded": "graded", "unreadable_files": "unreadable",
        "total": "total", "mean": "mean", "median": "median", "min": "min", "max": "max",
        "pct_correct": "% correct", "pct_ft": "% follow-through", "pct_mistake": "% mistake",
        "top_mistakes": "top mistakes", "mistakes": "Mistakes per question",
        "short_correct": "ok %", "short_ft": "f-t %", "short_mistake": "mistake %",
        "clusters": "Identical wrong answers (a copying signal; listed, never scored)",
        "pairs": "Students sharing several identical wrong answers",
        "copy_signals": "Answers that match another student's variant (see copy_signals.csv)",
        "answer": "answer", "students": "students", "none": "none",
        "attention": "Needs attention", "duplicates": "duplicate student ids",
        "missing_id": "missing student ids", "unreadable_list": "unreadable files",
        "histogram": "Totals", "count": "students",
        "rubric_note": "Accepted: |answer − reference| ≤ atol + rtol·|reference| per entry "
                       "(or half a unit in the last asked significant figure).",
        "tolerance": "tolerance", "per_student": "students",
        "not_on_roster": "submissions not on the roster",
        "roster_unmatched": "roster rows without a submission",
        "roster_duplicates": "ids on more than one roster row (no grade given)",
        "skipped": "paths not graded",
        "class_note": "{n} submissions; mean {mean} / {max}, median {median}",
        "sigfigs": "{n} sig. fig., atol {atol}",
        "wrote": "wrote {files} and {n} feedback files in {folder}",
        "note_roster_dup": "note: {n} id(s) on more than one roster row got no grade in "
                           "upload.csv; see summary.md",
        "note_not_on_roster": "note: {n} submission(s) not on the roster (matched on '{key}'); "
                              "see summary.md",
        "note_attention": "note: {n} submission(s) need attention (duplicate or missing ids, "
                          "unreadable files); see summary.md",
        "note_skipped": "note: {n} path(s) not graded; see summary.md",
        "note_removed": "note: removed {n} file(s) of the previous run that this run did not "
                        "write (students no longer in the class)",
    },
    "zh": {
        "feedback": "作业反馈", "student": "学生", "score": "得分", "status": "状态",
        "question": "题目", "points": "分值", "result": "结果", "given": "你的答案",
        "accepted": "可接受范围", "why": "说明", "ungraded": "另外作答（不计分）",
        "correct": "正确",
        "rounding": "正确（与你前面四舍五入后的答案一致）",
        "partial": "{n} 个分量中 {k} 个正确；错误的分量：{entries}",
        "wrong": "错误",
        "all_wrong": "错误（没有分量在可接受范围内）",
        "follow_through": "与你的 {names} 一致（误差传递，给 {pct}% 的分）",
        "mistake": "{text}（常见错误，给 {pct}% 的分）",
        "also_mistake": "与一个常见错误吻合：{text}",
        "shape": "形状错误：应为 {expected}，实际为 {got}",
        "blank": "未作答",
        "unreadable": "无法读取：{error}",
        "number": "一个数", "blank_entry": "_",
        "hidden": "（隐藏）",
        "summary": "评分汇总", "submissions": "提交数",
        "graded": "已评分", "unreadable_files": "无法读取",
        "total": "总分", "mean": "平均", "median": "中位数", "min": "最低", "max": "最高",
        "pct_correct": "正确率", "pct_ft": "误差传递", "pct_mistake": "常见错误",
        "top_mistakes": "最常见的错误", "mistakes": "各题的常见错误",
        "short_correct": "正确 %", "short_ft": "传递 %", "short_mistake": "常见错误 %",
        "clusters": "完全相同的错误答案（抄袭线索，仅列出，不影响分数）",
        "pairs": "多处错误答案完全相同的学生",
        "copy_signals": "与其他同学的题目变体吻合的答案（见 copy_signals.csv）",
        "answer": "答案", "students": "学生", "none": "无",
        "attention": "需要注意", "duplicates": "重复的学号",
        "missing_id": "缺少学号", "unreadable_list": "无法读取的文件",
        "histogram": "总分分布", "count": "人数",
        "rubric_note": "判定标准：每个分量 |答案 − 参考值| ≤ atol + rtol·|参考值|"
                       "（或按要求的有效数字，误差不超过末位的一半）。",
        "tolerance": "容差", "per_student": "人",
        "not_on_roster": "不在名单中的提交",
        "roster_unmatched": "名单中没有提交的学生",
        "roster_duplicates": "名单中重复的学号（未给成绩）",
        "skipped": "未评分的路径",
        "class_note": "共 {n} 份提交；平均 {mean} / {max}，中位数 {median}",
        "sigfigs": "{n} 位有效数字，atol {atol}",
        "wrote": "已写入 {files}，以及 {folder} 中的 {n} 份反馈",
        "note_roster_dup": "注意：{n} 个学号在名单中出现多次，upload.csv 中未给成绩；见 summary.md",
        "note_not_on_roster": "注意：{n} 份提交不在名单中（按“{key}”匹配）；见 summary.md",
        "note_attention": "注意：{n} 份提交需要处理（学号重复或缺失、文件无法读取）；见 summary.md",
        "note_skipped": "注意：{n} 个路径未评分；见 summary.md",
        "note_removed": "注意：删除了上次运行写下而本次未写的 {n} 个文件（已不在班上的学生）",
    },
}


def words(lang: str) -> dict:
    return pick(WORDS, lang)


# ---------------------------------------------------------------- small formatting helpers
_POINTS: dict = {}


def points(x: float) -> str:
    """Scores with at most 3 decimals, no trailing zeros: 1, 0.5, 1.667."""
    text = _POINTS.get(x)   # a class has few distinct scores: each is formatted once
    if text is None:
        text = f"{x:.3f}".rstrip("0").rstrip(".")
        text = "0" if text in ("-0", "") else text
        if len(_POINTS) < 100_000:
            _POINTS[x] = text
    return text


def percent(x: float) -> str:
    return f"{x:.1f}"


@functools.lru_cache(maxsize=4096)
def md_text(text) -> str:
    """Text that may come from a student, inside markdown: one line, no table broken, no
    emphasis, HTML, code or link markup ("](" is broken up); brackets like z1[1] stay readable;
    control characters shown as U+FFFD and at most 2,000 characters (issue 17)."""
    text = printable(text, 2000, lines=False)
    return re.sub(r"([\\`*_<>|])", r"\\\1", text).replace("](", "]\\(")
