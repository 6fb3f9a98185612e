"""A study's results: its runs as one tidy frame (runs.py, the only reader of MLflow columns),
statistics and tables (compare.py), markdown (markdown.py), plots (plots.py), and the report
that ties them together (report.py)."""
