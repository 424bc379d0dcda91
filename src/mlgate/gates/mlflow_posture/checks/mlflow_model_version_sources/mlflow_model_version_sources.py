"""Model version sources lie in the allowed stores. Metadata: ``mlflow_model_version_sources.metadata.json``."""

from __future__ import annotations

import urllib.parse

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.stores import allowed, traversal


class mlflow_model_version_sources(Check):
    requires = ("model_versions",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        versions = ctx.inventory.model_versions or []
        prefixes = [s.prefix for s in ctx.config.allowed_stores]
        if not versions:
            return self.passed("no model version is registered")
        if not prefixes:
            return [CheckResult("unsupported", f"{len(versions)} model version(s), but the policy lists no allowed "
                                               "store (gates.mlflow-posture.allowed_stores)", "allowed_stores")]
        out: list[CheckResult] = []
        for mv in versions:
            member = f"{mv.name}/{mv.version}"
            if traversal(mv.source):
                out.append(self.failed(f"{member}: source {mv.source!r} contains a '..' segment", member,
                                       source=mv.source))
                continue
            if mv.resolve_error:
                out.append(CheckResult("unsupported", f"{member}: source {mv.source}: {mv.resolve_error}", member))
                continue
            u = urllib.parse.urlsplit(mv.source)
            if mv.resolved is None and u.scheme in ("models", "runs"):
                # models:/<name>/<version> is another version, judged itself; models:/m-<id> and runs:/ live under
                # their experiment's artifact location, which the server derives and
                # mlflow_experiment_artifact_locations judges (resolve_indirect_sources resolves them here too)
                continue
            where = mv.resolved or mv.source
            if traversal(where):
                out.append(self.failed(f"{member}: {mv.source} resolves to {where!r}, which contains a '..' segment",
                                       member, source=mv.source, resolved=where))
            elif allowed(where, prefixes) is None:
                via = f" (via {mv.source})" if mv.resolved else ""
                out.append(self.failed(f"{member}: stored at {where}{via}, outside the allowed stores", member,
                                       source=mv.source, resolved=mv.resolved))
        return out or self.passed(f"{len(versions)} model version(s), all in the allowed stores")
