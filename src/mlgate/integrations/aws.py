"""The one way mlgate talks to AWS: a session/client factory and one error taxonomy.

:func:`classify` maps any boto3/botocore exception to what a caller can act on:

* ``denied``: credentials or permissions (AccessDenied, InvalidAccessKeyId, ExpiredToken, 403);
* ``throttled``: transient (SlowDown, Throttling, 5xx, timeouts, connection errors): retry later;
* ``not_found``: the bucket, key, version or configuration does not exist (NoSuch*, 404);
* ``unsupported``: the endpoint does not implement the call (NotImplemented, 501);
* ``failed``: anything else.

No caller may treat any of these as "nothing there" unless it asked whether something exists.

botocore is imported here and nowhere else (a test refuses it elsewhere), and only when it is
needed (``mlgate --help`` imports neither boto3 nor botocore):

* :func:`config` builds the botocore client configuration (retries, time-outs, pool, user agent);
* ``except aws.AWS_ERRORS`` catches any AWS error, ``except aws.SERVICE_ERRORS`` an error the
  service answered (a ClientError, with an error code); both tuples are resolved on first use;
* :func:`is_aws_error`, :func:`is_service_error` and :func:`is_sdk_error` (raised by the client
  itself: credentials, connection, parameters) answer the same for one exception;
* :func:`credentials_problem`, :func:`connection_problem` and :func:`setup_problem` name the
  client-side failures a caller words differently.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

if TYPE_CHECKING:  # pragma: no cover - resolved lazily by __getattr__
    from botocore.exceptions import BotoCoreError, ClientError

    AWS_ERRORS: tuple[type[BotoCoreError], type[ClientError]]
    SERVICE_ERRORS: tuple[type[ClientError]]


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


def config(
    *,
    max_attempts: int | None = None,
    retry_mode: str | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_pool_connections: int | None = None,
    user_agent_extra: str | None = None,
) -> Any:
    """A botocore client ``Config`` with only the settings given (the others stay botocore's and
    the environment's: ``retry_mode=None`` leaves ``AWS_RETRY_MODE``/the default in force)."""
    from botocore.config import Config

    kwargs: dict[str, Any] = {}
    retries: dict[str, Any] = {}
    if max_attempts is not None:
        retries["max_attempts"] = max_attempts
    if retry_mode is not None:
        retries["mode"] = retry_mode
    if retries:
        kwargs["retries"] = retries
    if connect_timeout is not None:
        kwargs["connect_timeout"] = connect_timeout
    if read_timeout is not None:
        kwargs["read_timeout"] = read_timeout
    if max_pool_connections is not None:
        kwargs["max_pool_connections"] = max_pool_connections
    if user_agent_extra is not None:
        kwargs["user_agent_extra"] = user_agent_extra
    return Config(**kwargs)


def versions() -> dict[str, str]:
    """The versions of boto3 and botocore (recorded as the tools of a run)."""
    import boto3
    import botocore

    return {"boto3": boto3.__version__, "botocore": botocore.__version__}


def __getattr__(name: str) -> Any:
    """``AWS_ERRORS`` and ``SERVICE_ERRORS``, resolved (botocore imported) on first use."""
    if name == "AWS_ERRORS":
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)
    if name == "SERVICE_ERRORS":
        from botocore.exceptions import ClientError

        return (ClientError,)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_aws_error(exc: BaseException) -> bool:
    """Any boto3/botocore error: the service's answer or the client's own failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, (BotoCoreError, ClientError))


def is_service_error(exc: BaseException) -> TypeGuard[ClientError]:
    """The service answered with an error (a botocore ``ClientError``: ``exc.response`` holds
    the code and message)."""
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError)


def is_sdk_error(exc: BaseException) -> TypeGuard[BotoCoreError]:
    """The client failed before or without an answer: credentials, connection, time-out,
    parameters, configuration (a botocore ``BotoCoreError``)."""
    from botocore.exceptions import BotoCoreError

    return isinstance(exc, BotoCoreError)


def credentials_problem(exc: BaseException) -> Literal["missing", "incomplete"] | None:
    """``missing``: no credentials at all (NoCredentialsError); ``incomplete``: a provider found
    only part of them (PartialCredentialsError; ``exc.kwargs`` names the provider and the
    missing variable); None: not a credentials problem."""
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError):
        return "missing"
    if isinstance(exc, PartialCredentialsError):
        return "incomplete"
    return None


def connection_problem(exc: BaseException) -> Literal["unreachable", "timeout", "tls", "other"] | None:
    """``unreachable``: the endpoint could not be connected to (EndpointConnectionError);
    ``timeout``: connecting timed out (ConnectTimeoutError); ``tls``: the TLS handshake failed
    (SSLError); ``other``: another connection failure (a proxy, ...); None: not a connection
    failure (a read time-out or a closed connection after connecting are not)."""
    from botocore.exceptions import ConnectionError, ConnectTimeoutError, EndpointConnectionError, SSLError

    if isinstance(exc, EndpointConnectionError):
        return "unreachable"
    if isinstance(exc, ConnectTimeoutError):
        return "timeout"
    if isinstance(exc, SSLError):
        return "tls"
    if isinstance(exc, ConnectionError):
        return "other"
    return None


def setup_problem(exc: BaseException) -> Literal["no_profile", "no_region"] | None:
    """``no_profile``: the named profile is not configured (ProfileNotFound); ``no_region``: no
    region for a regional service (NoRegionError); None: neither."""
    from botocore.exceptions import NoRegionError, ProfileNotFound

    if isinstance(exc, ProfileNotFound):
        return "no_profile"
    if isinstance(exc, NoRegionError):
        return "no_region"
    return None
