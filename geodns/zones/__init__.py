"""Zone files: YAML with line numbers, records, checks, loading and reuse."""
