"""Facts about who can act in the AWS account, what records it, and how CloudFront serves.

- ``aws_iam``: each user's console login, MFA devices, access keys (created,
  last used) and the policies attached to it or inline that grant everything
  (AWS's ``AdministratorAccess``, or a statement allowing ``*`` on ``*``); the
  account password policy (None when there is none).
- ``aws_credential_report``: the ``<root_account>`` row of IAM's credential
  report: MFA, active access keys, when root last signed in or used a key.
- ``aws_cloudtrail``: every trail the region sees (shadow trails of other
  regions too), whether it is logging and validates its files, and whether its
  S3 bucket is public (by the bucket's policy status and ACL).
- ``aws_cloudfront``: every distribution's web ACL, cache behaviors (viewer
  protocol, trusted key groups) and origins (S3 or custom, OAC and OAI).

Every API error becomes :class:`Unavailable` through :func:`_aws.call`, so the
checks are skipped saying why; only "there is none" answers (NoSuchEntity for
a login profile or the password policy, no bucket policy) count as facts.
"""

import csv
import io
import json
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rampart.audit.collectors._aws import call, client
from rampart.audit.interface import Unavailable

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
PUBLIC_GRANTEES = frozenset(
    {
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    }
)
REPORT_TRIES = 10
"""How many times to ask for the credential report while IAM is still generating it."""


# -- IAM ------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessKey:
    id: str
    user: str
    active: bool
    created: datetime
    last_used: datetime | None
    """None: never used."""


@dataclass(frozen=True)
class IamUser:
    name: str
    console: bool
    """Has a login profile (a console password)."""
    mfa_devices: tuple[str, ...]
    keys: tuple[AccessKey, ...]
    admin_policies: tuple[str, ...]
    """Attached or inline policies that grant everything, by ARN or ``inline:NAME``."""


@dataclass(frozen=True)
class IamFacts:
    users: tuple[IamUser, ...]
    password_policy: dict[str, Any] | None
    """As GetAccountPasswordPolicy returns it; None when the account has none."""
    collected: datetime
    """When the facts were gathered: the checks measure key ages from it."""


def parse_time(value: Any) -> datetime | None:
    """A timestamp from boto3 (datetime) or a credential report (ISO text, ``N/A`` ...)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None  # "N/A", "no_information", "not_supported"
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def grants_everything(document: Any) -> bool:
    """Whether a policy document allows every action on every resource."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return any(
        isinstance(s, dict)
        and s.get("Effect") == "Allow"
        and _has_star(s.get("Action"), ("*", "*:*"))
        and _has_star(s.get("Resource"), ("*",))
        for s in statements
    )


def _has_star(value: Any, stars: tuple[str, ...]) -> bool:
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return any(v in stars for v in values)


def _tolerating(function: Callable[..., Any], *missing: str) -> Callable[..., Any]:
    """``function``, answering None instead of raising the error codes in ``missing``."""

    def tolerant(**kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return function(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in missing:
                return None
            raise

    return tolerant


def _pages(what: str, api: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a paginated listing (``key`` may be ``Outer.Inner``)."""

    def listing() -> list[Any]:
        items: list[Any] = []
        for page in api.get_paginator(operation).paginate(**kwargs):
            for part in key.split("."):
                page = page.get(part, {})
            items.extend(page or [])
        return items

    return list(call(what, listing))


def collect_iam() -> IamFacts:
    iam = client("iam")
    admin_cache: dict[str, bool] = {}
    users = tuple(
        _iam_user(iam, user["UserName"], admin_cache)
        for user in _pages("iam list-users", iam, "list_users", "Users")
    )
    answer = call(
        "iam get-account-password-policy",
        _tolerating(iam.get_account_password_policy, "NoSuchEntity"),
    )
    policy = None if answer is None else dict(answer["PasswordPolicy"])
    return IamFacts(users, policy, datetime.now(UTC))


def _iam_user(iam: Any, name: str, admin_cache: dict[str, bool]) -> IamUser:
    profile = call(
        f"iam get-login-profile {name}",
        _tolerating(iam.get_login_profile, "NoSuchEntity"),
        UserName=name,
    )
    mfa = _pages(
        f"iam list-mfa-devices {name}", iam, "list_mfa_devices", "MFADevices", UserName=name
    )
    keys = []
    for key in _pages(
        f"iam list-access-keys {name}", iam, "list_access_keys", "AccessKeyMetadata", UserName=name
    ):
        used = call(
            f"iam get-access-key-last-used {key['AccessKeyId']}",
            iam.get_access_key_last_used,
            AccessKeyId=key["AccessKeyId"],
        )
        created = parse_time(key.get("CreateDate"))
        if created is None:
            raise Unavailable(
                f"iam list-access-keys {name}: no CreateDate for {key['AccessKeyId']}"
            )
        keys.append(
            AccessKey(
                key["AccessKeyId"],
                name,
                key.get("Status") == "Active",
                created,
                parse_time(used.get("AccessKeyLastUsed", {}).get("LastUsedDate")),
            )
        )
    admin = [
        policy["PolicyArn"]
        for policy in _pages(
            f"iam list-attached-user-policies {name}",
            iam,
            "list_attached_user_policies",
            "AttachedPolicies",
            UserName=name,
        )
        if _managed_grants_everything(iam, policy["PolicyArn"], admin_cache)
    ]
    for policy_name in _pages(
        f"iam list-user-policies {name}", iam, "list_user_policies", "PolicyNames", UserName=name
    ):
        inline = call(
            f"iam get-user-policy {name} {policy_name}",
            iam.get_user_policy,
            UserName=name,
            PolicyName=policy_name,
        )
        if grants_everything(inline.get("PolicyDocument")):
            admin.append(f"inline:{policy_name}")
    return IamUser(
        name,
        profile is not None,
        tuple(device["SerialNumber"] for device in mfa),
        tuple(keys),
        tuple(admin),
    )


def _managed_grants_everything(iam: Any, arn: str, cache: dict[str, bool]) -> bool:
    if arn == ADMINISTRATOR_ACCESS:
        return True
    if arn not in cache:
        policy = call(f"iam get-policy {arn}", iam.get_policy, PolicyArn=arn)["Policy"]
        version = call(
            f"iam get-policy-version {arn}",
            iam.get_policy_version,
            PolicyArn=arn,
            VersionId=policy["DefaultVersionId"],
        )
        cache[arn] = grants_everything(version["PolicyVersion"].get("Document"))
    return cache[arn]


# -- the credential report --------------------------------------------------------


@dataclass(frozen=True)
class RootAccount:
    mfa_active: bool
    active_keys: tuple[str, ...]
    """Which of root's two access keys are active (``access_key_1`` ...)."""
    last_used: datetime | None
    """The latest of root's password and key uses (None: never, or no information)."""
    collected: datetime


def parse_root(report: str, collected: datetime) -> RootAccount:
    """The ``<root_account>`` row of a credential report's CSV text."""
    for row in csv.DictReader(io.StringIO(report)):
        if row.get("user") != "<root_account>":
            continue
        uses = [
            parse_time(row.get(column))
            for column in (
                "password_last_used",
                "access_key_1_last_used_date",
                "access_key_2_last_used_date",
            )
        ]
        known = [use for use in uses if use is not None]
        return RootAccount(
            row.get("mfa_active", "").lower() == "true",
            tuple(
                f"access_key_{n}"
                for n in (1, 2)
                if row.get(f"access_key_{n}_active", "").lower() == "true"
            ),
            max(known) if known else None,
            collected,
        )
    raise Unavailable("the IAM credential report has no <root_account> row")


def collect_credential_report() -> RootAccount:
    iam = client("iam")
    for _ in range(REPORT_TRIES):
        state = call("iam generate-credential-report", iam.generate_credential_report)
        if state.get("State") == "COMPLETE":
            break
        time.sleep(1)
    else:
        raise Unavailable("iam generate-credential-report: still not complete")
    content = call("iam get-credential-report", iam.get_credential_report)["Content"]
    text = content.decode() if isinstance(content, bytes) else str(content)
    return parse_root(text, datetime.now(UTC))


# -- CloudTrail -------------------------------------------------------------------


@dataclass(frozen=True)
class Trail:
    name: str
    arn: str
    home_region: str
    multi_region: bool
    logging: bool
    log_validation: bool
    bucket: str
    bucket_public: bool | None
    """None: the bucket could not be read (``bucket_evidence`` says why)."""
    bucket_evidence: str


def collect_cloudtrail() -> tuple[Trail, ...]:
    cloudtrail = client("cloudtrail")
    listed = call(
        "cloudtrail describe-trails", cloudtrail.describe_trails, includeShadowTrails=True
    )
    trails: dict[str, Trail] = {}
    buckets: dict[str, tuple[bool | None, str]] = {}
    for trail in listed.get("trailList", []):
        arn = trail["TrailARN"]
        if arn in trails:
            continue
        home = trail.get("HomeRegion") or cloudtrail.meta.region_name
        status = call(
            f"cloudtrail get-trail-status {trail['Name']}",
            client("cloudtrail", home).get_trail_status,
            Name=arn,
        )
        bucket = trail.get("S3BucketName", "")
        if bucket not in buckets:
            buckets[bucket] = _bucket_public(bucket)
        public, evidence = buckets[bucket]
        trails[arn] = Trail(
            trail["Name"],
            arn,
            home,
            bool(trail.get("IsMultiRegionTrail")),
            bool(status.get("IsLogging")),
            bool(trail.get("LogFileValidationEnabled")),
            bucket,
            public,
            evidence,
        )
    return tuple(trails.values())


def _bucket_public(bucket: str) -> tuple[bool | None, str]:
    """Whether a bucket is public, and why; (None, why not known) if it cannot be read."""
    if not bucket:
        return None, "the trail names no S3 bucket"
    s3 = client("s3")
    try:
        block = call(
            f"s3 get-public-access-block {bucket}",
            _tolerating(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
            Bucket=bucket,
        )
        status = call(
            f"s3 get-bucket-policy-status {bucket}",
            _tolerating(s3.get_bucket_policy_status, "NoSuchBucketPolicy"),
            Bucket=bucket,
        )
        acl = call(f"s3 get-bucket-acl {bucket}", s3.get_bucket_acl, Bucket=bucket)
    except Unavailable as why:
        return None, str(why)
    settings = (block or {}).get("PublicAccessBlockConfiguration", {})
    reasons = []
    if (status or {}).get("PolicyStatus", {}).get("IsPublic") and not settings.get(
        "RestrictPublicBuckets"
    ):
        reasons.append("its bucket policy is public")
    grantees = {g.get("Grantee", {}).get("URI") for g in acl.get("Grants", [])}
    public_grants = sorted(grantees & PUBLIC_GRANTEES)
    if public_grants and not settings.get("IgnorePublicAcls"):
        reasons.append("its ACL grants " + ", ".join(g.rsplit("/", 1)[-1] for g in public_grants))
    if reasons:
        return True, f"bucket {bucket}: " + "; ".join(reasons)
    return False, f"bucket {bucket}: policy not public, no public ACL grants"


# -- CloudFront -------------------------------------------------------------------


@dataclass(frozen=True)
class Behavior:
    path: str
    """``default`` for the default cache behavior, else its path pattern."""
    target_origin: str
    viewer_protocol: str
    key_groups: tuple[str, ...]
    trusted_signers: bool
    """Legacy trusted signers (AWS accounts) are enabled."""


@dataclass(frozen=True)
class Origin:
    id: str
    domain: str
    kind: str
    """``s3``, ``custom``, or ``unknown`` when the API reported neither configuration."""
    access_control: str
    """The origin access control's id, or ``""``."""
    access_identity: str
    """The legacy origin access identity, or ``""``."""


@dataclass(frozen=True)
class Distribution:
    id: str
    domain: str
    web_acl: str
    behaviors: tuple[Behavior, ...]
    origins: tuple[Origin, ...]


def parse_distribution(summary: dict[str, Any]) -> Distribution:
    """A distribution as ListDistributions returns it."""
    default = summary.get("DefaultCacheBehavior", {})
    others = summary.get("CacheBehaviors", {}).get("Items") or []
    behaviors = tuple(
        Behavior(
            path,
            raw.get("TargetOriginId", ""),
            raw.get("ViewerProtocolPolicy", ""),
            tuple(raw.get("TrustedKeyGroups", {}).get("Items") or [])
            if raw.get("TrustedKeyGroups", {}).get("Enabled")
            else (),
            bool(raw.get("TrustedSigners", {}).get("Enabled")),
        )
        for path, raw in [("default", default)]
        + [(item.get("PathPattern", "?"), item) for item in others]
    )
    origins = tuple(_origin(raw) for raw in summary.get("Origins", {}).get("Items") or [])
    return Distribution(
        summary["Id"],
        summary.get("DomainName", ""),
        summary.get("WebACLId") or "",
        behaviors,
        origins,
    )


def _origin(raw: dict[str, Any]) -> Origin:
    if "S3OriginConfig" in raw:
        kind = "s3"
    elif "CustomOriginConfig" in raw:
        kind = "custom"
    else:
        kind = "unknown"
    return Origin(
        raw.get("Id", ""),
        raw.get("DomainName", ""),
        kind,
        raw.get("OriginAccessControlId") or "",
        (raw.get("S3OriginConfig") or {}).get("OriginAccessIdentity") or "",
    )


def collect_cloudfront() -> tuple[Distribution, ...]:
    cloudfront = client("cloudfront")
    listed: Iterable[dict[str, Any]] = _pages(
        "cloudfront list-distributions",
        cloudfront,
        "list_distributions",
        "DistributionList.Items",
    )
    return tuple(parse_distribution(summary) for summary in listed)


COLLECTORS: dict[str, Callable[[], Any]] = {
    "aws_iam": collect_iam,
    "aws_credential_report": collect_credential_report,
    "aws_cloudtrail": collect_cloudtrail,
    "aws_cloudfront": collect_cloudfront,
}
