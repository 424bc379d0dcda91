"""ML.10: No static website hosting and no CORS write from any origin. Metadata: ``s3_bucket_website_cors.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_website_cors(Check):
    requires = ("website", "cors")
    WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        out: list[CheckResult] = []
        if b.website:
            out.append(self.failed("static website hosting is enabled", "website", website=b.website))
        for i, rule in enumerate(b.cors_rules):
            origins = [str(o) for o in rule.get("AllowedOrigins", [])]
            methods = sorted(self.WRITE_METHODS & {str(m).upper() for m in rule.get("AllowedMethods", [])})
            if "*" in origins and methods:
                out.append(self.failed(f"CORS rule {rule.get('ID') or i} allows {', '.join(methods)} from any origin",
                                       f"cors:{rule.get('ID') or i}", methods=methods))
        return out or self.passed("no website hosting and no CORS write from any origin")
