"""An example training function that really trains: a scikit-learn logistic regression on an
iris-like CSV (columns id, sepal_length, sepal_width, petal_length, petal_width, species; see
mlgate.gates.data_quality.samples.write_iris_like), saved as an
MLflow sklearn model (``model.skops``, MLflow's default sklearn format)."""

from __future__ import annotations

from pathlib import Path

from mlgate.lifecycle.train import TrainInputs

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
LABEL = "species"


def train(inputs: TrainInputs) -> Path:
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    src = inputs.datasets["train"]
    files = sorted(src.rglob("*.csv")) if src.is_dir() else [src]
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    model = Pipeline([
        ("scale", StandardScaler()),
        ("clf", LogisticRegression(C=float(inputs.params.get("C", 1.0)), max_iter=500)),
    ])
    model.fit(df[FEATURES], df[LABEL])
    out = inputs.output_dir / "model"
    mlflow.sklearn.save_model(model, out, pip_requirements=["scikit-learn", "skops"])
    return out
