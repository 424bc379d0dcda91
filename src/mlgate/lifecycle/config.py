"""The pipeline config (YAML) that the lifecycle flows take, validated like a policy: every error
names the file and the field.

Example (``infra/pipelines/demo.yaml``)::

    apiVersion: mlgate/v1
    kind: Pipeline
    name: iris
    tracking_uri: http://127.0.0.1:5000
    policy: ../../policies/default.yaml
    model_name: iris-classifier
    buckets: [mlgate-data, mlgate-artifacts]
    datasets:
      train: {uri: s3://mlgate-data/iris/train.csv, suite: ../../policies/suites/iris.yaml}
    base_models: {}
    training: {function: mlgate.examples.train_sklearn:train, params: {C: 1.0}}
    signing: {private_key: keys/signing-key.pem, public_key: keys/signing-key.pub}
    deploy: {alias: production, target: folder, folder: serving/}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlgate.errors import PolicyError

_FUNC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    uri: str = Field(description="Local path, folder, or s3://bucket/key-or-prefix")
    suite: str = Field(description="Expectation suite file (relative to the config file)")


class TrainingSpec(_Strict):
    """The team's training function runs in its own confined process (see mlgate.lifecycle.train)."""

    function: str = Field(description="package.module:function (see mlgate.lifecycle.train.TrainInputs)")
    params: dict[str, Any] = Field(default_factory=dict)
    python_path: tuple[str, ...] = Field(
        default=(), description="Folders holding the team's code (relative to the config): readable by the "
                                "training process and put on its sys.path. Installed packages need nothing here.")
    env: tuple[str, ...] = Field(
        default=(), description="Names of environment variables passed to the training process (nothing else is).")
    isolation: Literal["landlock", "process"] = Field(
        default="landlock", description="landlock: a fresh process confined by Linux Landlock (refused where the "
                                        "kernel lacks it); process: a fresh process only (weaker, see docs).")
    network: bool = Field(default=False, description="Allow the training process TCP connections.")
    timeout_seconds: float = Field(default=14_400, gt=0, le=7 * 86_400,
                                   description="Kill the training process after this long (default 4 h).")

    @field_validator("function")
    @classmethod
    def _func(cls, v: str) -> str:
        if not _FUNC.match(v):
            raise ValueError("must look like package.module:function")
        return v


class SigningSpec(_Strict):
    private_key: str
    public_key: str


class DeploySpec(_Strict):
    alias: str = "production"
    target: Literal["folder", "mlflow-deployments"] = "folder"
    folder: str | None = Field(default=None, description="For target=folder: where the verified copy goes")
    deployments_uri: str | None = Field(default=None, description="For target=mlflow-deployments")
    endpoint: str | None = None

    @field_validator("alias")
    @classmethod
    def _alias(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z][\w-]{0,63}$", v):
            raise ValueError("not a valid alias name")
        return v


class PipelineDoc(_Strict):
    apiVersion: Literal["mlgate/v1"]
    kind: Literal["Pipeline"] = "Pipeline"
    name: str
    tracking_uri: str
    policy: str
    model_name: str
    buckets: tuple[str, ...] = ()
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    base_models: dict[str, str] = Field(default_factory=dict, description="name -> local path, s3:// or models:/")
    training: TrainingSpec
    signing: SigningSpec
    deploy: DeploySpec = DeploySpec()
    work_dir: str = Field(default=".work/pipeline", description="Staging folder for verified local copies")


class PipelineConfig:
    """A validated pipeline config with its relative paths resolved against the file's folder."""

    def __init__(self, doc: PipelineDoc, path: Path) -> None:
        self.doc = doc
        self.path = path

    def resolve(self, p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else (self.path.parent / q).resolve()

    def uri(self, u: str) -> str:
        """Local paths resolved; s3:// and models:/ unchanged."""
        if re.match(r"^[a-z][a-z0-9+.-]*:/", u):
            return u
        return str(self.resolve(u))

    @property
    def policy_path(self) -> Path:
        return self.resolve(self.doc.policy)

    @property
    def work_dir(self) -> Path:
        return self.resolve(self.doc.work_dir)


def load_pipeline_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(str(p), None, "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(str(p), None, f"cannot read: {e}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise PolicyError(str(p), None, f"not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise PolicyError(str(p), None, "a pipeline config must be a YAML mapping")
    data.update(overrides or {})
    try:
        doc = PipelineDoc.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise PolicyError(str(p), ".".join(str(x) for x in first["loc"]) or None, first["msg"]) from None
    return PipelineConfig(doc, p.resolve())
