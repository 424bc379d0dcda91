"""The one way mlgate talks to AWS: a session/client factory and one error taxonomy.

:func:`classify` maps any boto3/botocore exception to what a caller can act on:

* ``denied``: credentials or permissions (AccessDenied, InvalidAccessKeyId, ExpiredToken, 403);
* ``throttled``: transient (SlowDown, Throttling, 5xx, timeouts, connection errors): retry later;
* ``not_found``: the bucket, key, version or configuration does not exist (NoSuch*, 404);
* ``unsupported``: the endpoint does not implement the call (NotImplemented, 501);
* ``failed``: anything else.

No caller may treat any of these as "nothing there" unless it asked whether something exists.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorClass(str, Enum):
    DENIED = "denied"
    THROTTLED = "throttled"
    NOT_FOUND = "not_found"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"


_DENIED = {"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "ExpiredToken", "ExpiredTokenException", "InvalidToken", "UnauthorizedOperation", "AuthFailure",
           "UnrecognizedClientException", "InvalidClientTokenId", "403", "Forbidden", "AccountProblem"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
              "RequestLimitExceeded", "TooManyRequestsException", "RequestTimeout", "RequestTimeoutException",
              "InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeTooSkewed",
              "500", "502", "503", "504", "429"}
_UNSUPPORTED = {"NotImplemented", "501", "MethodNotAllowed", "405", "XNotImplemented", "UnsupportedOperation",
                "InvalidAction"}
_NOT_FOUND = {"404", "NotFound", "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NoSuchUpload", "ResourceNotFound",
              "ResourceNotFoundException", "NoSuchEntity"}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "") or "")
    return ""


def classify(exc: BaseException) -> ErrorClass:
    code = error_code(exc)
    if code:
        if code in _DENIED:
            return ErrorClass.DENIED
        if code in _THROTTLED:
            return ErrorClass.THROTTLED
        if code in _UNSUPPORTED:
            return ErrorClass.UNSUPPORTED
        if code in _NOT_FOUND or code.startswith("NoSuch") or code.endswith("NotFound"):
            return ErrorClass.NOT_FOUND
        status = str(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if status in ("500", "502", "503", "504", "429"):
            return ErrorClass.THROTTLED
        return ErrorClass.FAILED
    try:
        from botocore.exceptions import (
            BotoCoreError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return ErrorClass.FAILED
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ErrorClass.DENIED
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return ErrorClass.THROTTLED
    if isinstance(exc, BotoCoreError):
        return ErrorClass.FAILED
    return ErrorClass.FAILED


def session(**kwargs: Any) -> Any:
    """A boto3 session (the standard credential chain; ``kwargs`` as boto3 takes them)."""
    import boto3

    return boto3.session.Session(**kwargs)


def client(service: str, *, session_: Any | None = None, **kwargs: Any) -> Any:
    """A client of ``service`` from ``session_`` (or a new default session)."""
    return (session_ or session()).client(service, **kwargs)
