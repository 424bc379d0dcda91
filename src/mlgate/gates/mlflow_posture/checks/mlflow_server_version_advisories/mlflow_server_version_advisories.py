"""The server's version against the shipped advisory table. Metadata: ``mlflow_server_version_advisories.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.advisories import Version, VersionParseError
from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult


class mlflow_server_version_advisories(Check):
    requires = ("version",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        table, reported = ctx.advisories, ctx.inventory.version or ""
        if table is None:  # pragma: no cover - the runner reports a missing table before checks run
            return [CheckResult("unsupported", "no advisory table loaded")]
        try:
            v = Version(reported)
        except VersionParseError:
            return [CheckResult("unsupported", f"the server reports version {reported!r}, which does not parse: "
                                               "unknown to the advisory table, not assumed safe", "version")]
        out: list[CheckResult] = []
        for adv, rng in table.matching(v):
            names = ", ".join((adv.id, *adv.aliases))
            low = "any release" if rng.introduced == "0" else rng.introduced
            out.append(CheckResult(
                "fail", f"MLflow {reported} is affected by {names}: {adv.title} (affected: {low} up to {rng.fixed}; "
                        f"fixed in {rng.fixed}; published {adv.published})", adv.id,
                {"advisory": adv.id, "aliases": list(adv.aliases), "fixed": rng.fixed, "topic": adv.topic,
                 "sources": list(adv.sources), "note": adv.note}, severity=adv.severity))
        if not table.known(v):
            out.append(CheckResult(
                "unsupported", f"MLflow {reported} is newer than the advisory table (reviewed through "
                               f"{table.reviewed_through} on {table.reviewed}): advisories published since are unknown "
                               "to it; review policies/mlflow-advisories.yaml", "advisory-table",
                {"reviewed_through": table.reviewed_through, "reviewed": str(table.reviewed)}))
        if out:
            return out
        return self.passed(f"MLflow {reported}: none of the {len(table.advisories)} advisories in the table "
                           f"(reviewed through {table.reviewed_through} on {table.reviewed}) affects it")
