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
        "roster_duplicates": "ids on more than one roster row (given 0 in upload.csv)",
        "skipped": "paths not graded",
        "class_note": "{n} submissions; mean {mean} / {max}, median {median}",
        "sigfigs": "{n} sig. fig., atol {atol}",
        "wrote": "wrote {files} and {n} feedback files in {folder}",
        "note_roster_dup": "note: {n} id(s) on more than one roster row got 0 in upload.csv "
                           "(a person decides); see summary.md",
        "note_not_on_roster": "note: {n} submission(s) not on the roster (matched on '{key}'); "
                              "see summary.md",
        "note_attention": "note: {n} submission(s) need attention (duplicate or missing ids, "
                          "unreadable files); see summary.md",
        "note_skipped": "note: {n} path(s) not graded; see summary.md",
        "note_removed": "note: removed {n} file(s) of the previous run that this run did not "
                        "write (students no longer in the class)",
        "items": "Item analysis",
        "discrimination": "discrimination", "common_wrong": "most common wrong answer",
        "diagnosis": "diagnosis", "no_diagnosis": "— (wrong, no catalogued mistake)",
        "excluded": "Not in the statistics",
        "excluded_note": "Listed here with their files, left out of every mean, median, item "
                         "statistic and the histogram; grades.csv and upload.csv give them the "
                         "policy's value shown.",
        "reason": "reason", "file": "file", "grade_given": "grade given",
        "set_aside": "Set aside by the duplicates policy (not graded, no row in grades.csv)",
        "warnings": "Warnings",
        "nothing_matched": "nothing matched: no answer of any submission is right, partly right "
                           "or consistent with the student's own earlier answers — likely a "
                           "wrong problem file, answer key or tolerance",
        "low_mean": "{q}: class mean {mean} of {pts} points is under {pct}% — check the key, "
                    "the tolerance or the question",
        "signals": "Integrity signals (see signals.csv; reported, never scored)",
        "adjustments": "Adjustments",
        "overridden": "changed by the course staff to {pct}% credit: {note}",
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
        "roster_duplicates": "名单中重复的学号（upload.csv 中给 0 分）",
        "skipped": "未评分的路径",
        "class_note": "共 {n} 份提交；平均 {mean} / {max}，中位数 {median}",
        "sigfigs": "{n} 位有效数字，atol {atol}",
        "wrote": "已写入 {files}，以及 {folder} 中的 {n} 份反馈",
        "note_roster_dup": "注意：{n} 个学号在名单中出现多次，upload.csv 中给 0 分（请人工处理）；见 summary.md",
        "note_not_on_roster": "注意：{n} 份提交不在名单中（按“{key}”匹配）；见 summary.md",
        "note_attention": "注意：{n} 份提交需要处理（学号重复或缺失、文件无法读取）；见 summary.md",
        "note_skipped": "注意：{n} 个路径未评分；见 summary.md",
        "note_removed": "注意：删除了上次运行写下而本次未写的 {n} 个文件（已不在班上的学生）",
        "items": "题目分析",
        "discrimination": "区分度", "common_wrong": "最常见的错误答案",
        "diagnosis": "诊断", "no_diagnosis": "—（错误，非已知的常见错误）",
        "excluded": "未计入统计",
        "excluded_note": "以下提交连同文件列出，不计入平均、中位数、题目统计和直方图；"
                         "grades.csv 和 upload.csv 中给出所示的按规则的分数。",
        "reason": "原因", "file": "文件", "grade_given": "给分",
        "set_aside": "按重复提交规则搁置（不评分，grades.csv 中无此行）",
        "warnings": "警告",
        "nothing_matched": "没有任何匹配：所有提交的所有答案都不正确、也不与学生自己前面的答案一致"
                           "——很可能是题目文件、答案或容差用错了",
        "low_mean": "{q}：全班平均 {mean}（满分 {pts}）低于 {pct}%——请检查答案、容差或题目",
        "signals": "诚信线索（见 signals.csv；仅报告，不影响分数）",
        "adjustments": "调整",
        "overridden": "助教改为 {pct}% 的分：{note}",
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
