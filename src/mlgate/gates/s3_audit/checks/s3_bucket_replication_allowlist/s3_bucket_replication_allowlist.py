"""ML.5: Replication goes only to allowlisted destinations. Metadata: ``s3_bucket_replication_allowlist.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import glob_match


class s3_bucket_replication_allowlist(Check):
    requires = ("replication",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        rep = ctx.bucket.replication or {}
        rules = [r for r in rep.get("Rules", []) if r.get("Status") == "Enabled"]
        if not rules:
            return self.passed("no enabled replication rule")
        allow = [t.destination for t in ctx.config.replication_allowlist]
        out: list[CheckResult] = []
        for i, r in enumerate(rules):
            dest = r.get("Destination", {})
            bucket = str(dest.get("Bucket", ""))
            account = dest.get("Account")
            ok = any(glob_match(a, bucket) for a in allow if a.startswith("arn:")) or (
                account is not None and str(account) in allow)
            if not ok:
                acct = f" (account {account})" if account else " (no Destination.Account)"
                out.append(self.failed(f"replication rule {r.get('ID') or i} copies objects to {bucket}{acct}, "
                                       "which is not on replication_allowlist",
                                       f"replication:{r.get('ID') or i}", destination=bucket, account=account))
        return out or self.passed(f"{len(rules)} replication rule(s), all to allowlisted destinations")
