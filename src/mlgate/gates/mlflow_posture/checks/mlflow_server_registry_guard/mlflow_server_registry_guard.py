"""The mlgate registry guard is the server's registry store. Metadata: ``mlflow_server_registry_guard.metadata.json``."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.inventory import redact

KEY = "MLGATE_REGISTRY_PUBLIC_KEY"


class mlflow_server_registry_guard(Check):
    requires = ("server_env",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        env = ctx.inventory.server_env or {}
        if not ctx.config.require_guard_plugin:
            return [CheckResult("info", "the policy does not require the registry guard (require_guard_plugin: false)")]
        store = env.get("MLFLOW_REGISTRY_STORE_URI") or env.get("MLFLOW_BACKEND_STORE_URI") or ""
        scheme = urllib.parse.urlsplit(store).scheme
        out: list[CheckResult] = []
        if not scheme.startswith("mlgate+"):
            shown = redact(store) or "(unset: MLflow's default store)"
            out.append(self.failed(f"the registry store is {shown}, not the mlgate registry guard (mlgate+...)",
                                   "MLFLOW_REGISTRY_STORE_URI"))
        keys = [k for k in env.get(KEY, "").split(os.pathsep) if k.strip()]
        if not keys:
            out.append(self.failed(f"{KEY} is not set: the guard has no key to verify signatures with", KEY))
        else:
            base = Path(ctx.inventory.server_env_path or ".").parent
            missing = [k for k in keys if not (base / k).expanduser().is_file()]
            if missing:
                out.append(self.failed(f"{KEY} names key file(s) that do not exist next to the server: {missing}",
                                       KEY))
        return out or self.passed(f"registry store {scheme}:// with {len(keys)} public key(s)")
