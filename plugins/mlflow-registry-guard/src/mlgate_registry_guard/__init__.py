"""mlgate's MLflow registry guard: a model-registry store plugin that makes the MLflow server
itself refuse promotions and passing verdicts that no valid mlgate signature backs."""

__version__ = "0.1.0"
