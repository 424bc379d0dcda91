"""S3.19: S3 access point has Block Public Access enabled. Metadata: ``s3_access_point_public_access_block.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_access_point_public_access_block(Check):
    requires = ("access_point",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        ap = ctx.access_point
        pab = ap.public_access_block
        if pab is None:
            return [self.failed(f"access point {ap.name} has no public access block configuration",
                                "public-access-block")]
        if pab.disabled:
            return [self.failed(f"access point {ap.name} public access block settings off: {', '.join(pab.disabled)}",
                                "public-access-block", disabled=pab.disabled)]
        return self.passed("all four access point public access block settings are on")
