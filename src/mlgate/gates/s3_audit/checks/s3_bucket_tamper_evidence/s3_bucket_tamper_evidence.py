"""ML.3: Artifact overwrites and deletes are tamper-evident. Metadata: ``s3_bucket_tamper_evidence.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_tamper_evidence(Check):
    requires = ("versioning", "object_lock")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        cfg = ctx.config
        versioned = b.versioning.get("Status") == "Enabled"
        mfa = b.versioning.get("MFADelete") == "Enabled"
        lock = b.object_lock or {}
        ret = (lock.get("Rule") or {}).get("DefaultRetention") or {}
        days = max(int(ret.get("Days") or 0), int(ret.get("Years") or 0) * 365)
        lock_on = lock.get("ObjectLockEnabled") == "Enabled"
        lock_ok = lock_on and days >= cfg.min_object_lock_days
        problems: list[str] = []
        if not versioned:
            problems.append("versioning is not enabled")
        if lock_ok or (mfa and not cfg.require_object_lock):
            pass
        else:
            if not lock_on:
                problems.append("object lock is off")
            elif not ret:
                problems.append("object lock has no default retention")
            else:
                problems.append(f"object lock default retention is {days} day(s) (< {cfg.min_object_lock_days})")
            if cfg.require_object_lock:
                problems.append("require_object_lock: MFA delete alone is not accepted")
            elif not mfa:
                problems.append("MFA delete is not enabled")
        if problems:
            return [self.failed("overwrites and deletes of artifacts are not tamper-evident: " + "; ".join(problems),
                                "versioning/object-lock", versioned=versioned, mfa_delete=mfa,
                                object_lock_days=days)]
        how = f"object lock {ret.get('Mode', '')} {days} day(s)" if lock_ok else "MFA delete"
        return self.passed(f"versioned, protected by {how}")
