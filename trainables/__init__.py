"""One trial = one prune-and-retrain run as a Ray Tune trainable, recorded in MLflow.

Imports `pruning`, Ray and MLflow; never Optuna or `studies`.
"""

import os

# MLflow 3 starts its telemetry client (which calls the internet) when `mlflow` is first
# imported, so the opt-out must be in the environment before any module of this package
# imports it, on every node a trial runs on.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
