"""`python -m gradcalc` runs the command-line interface."""
from gradcalc.cli import cli

if __name__ == "__main__":
    cli(prog_name="gradcalc")
