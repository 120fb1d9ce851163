"""Comparing the three derivations, and checking a student's own layer code."""
