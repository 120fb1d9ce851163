"""Reports -> plain tables, rich output, markdown and JSON (build, don't print)."""
