"""S3.8: S3 Block Public Access is enabled on the bucket. Metadata: ``s3_bucket_level_public_access_block.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_level_public_access_block(Check):
    requires = ("public_access_block",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        pab = ctx.bucket.public_access_block
        if pab is None:
            return [self.failed("the bucket has no public access block configuration", "public-access-block")]
        if pab.disabled:
            return [self.failed(f"bucket public access block settings off: {', '.join(pab.disabled)}",
                                "public-access-block", disabled=pab.disabled)]
        return self.passed("all four bucket-level public access block settings are on")
