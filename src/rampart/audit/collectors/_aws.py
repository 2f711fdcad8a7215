"""One way to reach the AWS account: boto3's usual credential chain, checked once.

boto3 honours ``AWS_ENDPOINT_URL`` (``rampart audit --aws-endpoint`` sets it),
which is how the tests point unmodified boto3 at ``moto_server``. Without
credentials, or with the audit's AWS part turned off, every AWS collector
raises :class:`Unavailable` and the AWS checks show as skipped, saying why.
"""

import functools
from typing import Any

from rampart.audit.interface import Unavailable
from rampart.config import load_settings

DEFAULT_REGION = "us-east-1"


@functools.cache
def session() -> Any:
    """A boto3 session with credentials, or Unavailable (no boto3, no credentials, turned off)."""
    settings = load_settings().audit
    if not settings.aws:
        raise Unavailable("the AWS audit is turned off ([audit] aws = false)")
    try:
        import boto3
    except ImportError:
        raise Unavailable("boto3 is not installed (pip install boto3)") from None
    made = boto3.session.Session(region_name=settings.aws_region)
    if made.get_credentials() is None:
        raise Unavailable("no AWS credentials (environment, ~/.aws or an instance role)")
    return made


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client; errors while calling it should go through :func:`call`."""
    made = session()
    return made.client(service, region_name=region or made.region_name or DEFAULT_REGION)


def call(what: str, function: Any, **kwargs: Any) -> Any:
    """Call an AWS API; an error (denied, unreachable) becomes Unavailable naming ``what``."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise Unavailable("botocore is not installed") from None
    try:
        return function(**kwargs)
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise Unavailable(
            f"{what}: {detail.get('Code', 'error')}: {detail.get('Message', '')}"
        ) from None
    except BotoCoreError as error:
        raise Unavailable(f"{what}: {error}") from None
