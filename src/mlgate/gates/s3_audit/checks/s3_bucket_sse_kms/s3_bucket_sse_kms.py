"""S3.17: S3 bucket is encrypted at rest with SSE-KMS. Metadata: ``s3_bucket_sse_kms.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_sse_kms(Check):
    requires = ("encryption",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        algs = [str(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", ""))
                for r in ctx.bucket.encryption_rules]
        if not algs:
            return [self.failed("no default encryption configuration (SSE-S3 at best)", "encryption")]
        if not all(a in ("aws:kms", "aws:kms:dsse") for a in algs):
            return [self.failed(f"default encryption is {', '.join(algs)}, not SSE-KMS", "encryption", algorithms=algs)]
        return self.passed(f"default encryption is {', '.join(algs)}")
