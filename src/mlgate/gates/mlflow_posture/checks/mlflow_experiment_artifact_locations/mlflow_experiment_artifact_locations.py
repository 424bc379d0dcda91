"""Experiment artifact locations lie in the allowed stores. Metadata: ``mlflow_experiment_artifact_locations.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.stores import allowed, traversal


class mlflow_experiment_artifact_locations(Check):
    requires = ("experiments",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        exps = ctx.inventory.experiments or []
        prefixes = [s.prefix for s in ctx.config.allowed_stores]
        if not exps:
            return self.passed("no experiment")
        if not prefixes:
            return [CheckResult("unsupported", f"{len(exps)} experiment(s), but the policy lists no allowed store "
                                               "(gates.mlflow-posture.allowed_stores)", "allowed_stores")]
        out: list[CheckResult] = []
        for e in exps:
            member = f"experiment:{e.experiment_id}"
            if traversal(e.artifact_location):
                out.append(self.failed(f"experiment {e.name!r} ({e.experiment_id}): artifact location "
                                       f"{e.artifact_location!r} contains a '..' segment", member,
                                       artifact_location=e.artifact_location))
            elif allowed(e.artifact_location, prefixes) is None:
                out.append(self.failed(f"experiment {e.name!r} ({e.experiment_id}) stores artifacts at "
                                       f"{e.artifact_location}, outside the allowed stores", member,
                                       artifact_location=e.artifact_location))
        return out or self.passed(f"{len(exps)} experiment(s), all in the allowed stores")
