"""Problem files: safe YAML, the expression parser, validation, the JSON Schema, data sets."""
