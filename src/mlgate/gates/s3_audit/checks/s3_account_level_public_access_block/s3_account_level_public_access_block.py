"""S3.1: S3 Block Public Access is enabled for the account. Metadata: ``s3_account_level_public_access_block.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_account_level_public_access_block(Check):
    requires = ("public_access_block",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        pab = ctx.account.public_access_block
        if pab is None:
            return [self.failed("the account has no public access block configuration", "account:public-access-block")]
        if pab.disabled:
            return [self.failed(f"account public access block settings off: {', '.join(pab.disabled)}",
                                "account:public-access-block", disabled=pab.disabled)]
        return self.passed("all four account-level public access block settings are on")
