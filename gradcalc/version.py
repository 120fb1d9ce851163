"""The version of gradcalc (one place; the package and the HTML report read it)."""
__version__ = "0.1.0"
