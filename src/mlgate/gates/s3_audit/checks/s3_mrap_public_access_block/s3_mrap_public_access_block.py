"""S3.24: S3 multi-region access point has Block Public Access enabled. Metadata: ``s3_mrap_public_access_block.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_mrap_public_access_block(Check):
    requires = ("multi_region_access_point",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        m = ctx.mrap
        pab = m.public_access_block
        if pab is None:
            return [self.failed(f"multi-region access point {m.name} has no public access block configuration",
                                "public-access-block")]
        if pab.disabled:
            return [self.failed(
                f"multi-region access point {m.name} public access block settings off: {', '.join(pab.disabled)}",
                "public-access-block", disabled=pab.disabled)]
        return self.passed("all four multi-region access point public access block settings are on")
