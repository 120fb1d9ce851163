"""Grading a class: answer files, the rubric, the answer key, follow-through, reports."""
