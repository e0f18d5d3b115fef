"""Runnable experiments, one file per task: ``python -m experiments.<name> --help`` from the repository root."""
