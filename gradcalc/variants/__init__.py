"""Randomized per-student problems: templates, stable draws, well-posedness, rosters."""
