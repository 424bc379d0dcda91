"""S3.5: S3 bucket policy requires TLS for every request. Metadata: ``s3_bucket_secure_transport_policy.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import is_tls_deny


class s3_bucket_secure_transport_policy(Check):
    requires = ("policy",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        if ctx.policy is None:
            return [self.failed("no bucket policy: plain-HTTP requests are not denied", "policy")]
        for st in ctx.policy.denies():
            if is_tls_deny(st, b.scope):
                return self.passed(f"{st.label} denies s3:* when aws:SecureTransport is false")
        partial = [st.label + " (actions " + ", ".join(st.actions) + ")" for st in ctx.policy.denies()
                   if any(c.key == "aws:securetransport" for c in st.conditions)]
        why = ("; a SecureTransport deny exists but does not cover every principal, s3:* and every object "
               "with that single condition: " + "; ".join(partial)) if partial else ""
        return [self.failed("no statement denies s3:* on the bucket and its objects when aws:SecureTransport "
                            "is false" + why, "policy", partial=partial)]
