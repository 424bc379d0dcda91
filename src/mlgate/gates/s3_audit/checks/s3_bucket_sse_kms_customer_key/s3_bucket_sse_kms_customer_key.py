"""ML.8: Artifacts are encrypted with a customer-managed KMS key. Metadata: ``s3_bucket_sse_kms_customer_key.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.inventory import kms_manager_from_id


class s3_bucket_sse_kms_customer_key(Check):
    requires = ("encryption", "kms")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        if not b.encryption_rules:
            return [self.failed("no default encryption: objects are not encrypted with a customer-managed key",
                                "encryption")]
        out: list[CheckResult] = []
        for r in b.encryption_rules:
            d = r.get("ApplyServerSideEncryptionByDefault", {})
            alg = str(d.get("SSEAlgorithm", ""))
            key = d.get("KMSMasterKeyID")
            if not alg.startswith("aws:kms"):
                out.append(self.failed(f"default encryption is {alg}, not SSE-KMS with a customer-managed key",
                                       "encryption"))
            elif not key:
                out.append(self.failed("SSE-KMS uses the AWS-managed key aws/s3 (no KMSMasterKeyID)", "encryption"))
            else:
                manager = kms_manager_from_id(str(key)) or b.kms_key_managers.get(str(key))
                if manager == "AWS":
                    out.append(self.failed(f"SSE-KMS key {key} is AWS-managed", "encryption", key=key))
                elif manager != "CUSTOMER":
                    out.append(CheckResult("unsupported", f"could not tell who manages KMS key {key}", "encryption",
                                           {"key": key}))
        return out or self.passed("default encryption uses a customer-managed KMS key")
