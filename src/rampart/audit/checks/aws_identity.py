"""AWS identity, audit trail and CloudFront checks (practices 8, 10, 11 and 5).

- IAM (practice 8): console users have MFA, access keys are rotated and in
  use, no user holds administrator rights directly, the password policy is
  strong (at least 14 characters and remembers old passwords: length and no
  reuse, as CIS asks, not composition rules), root has no keys, has MFA and
  stays unused.
- CloudTrail (practice 10): a multi-region trail that is logging, log file
  validation, no public trail bucket.
- CloudFront (practices 11 and 5): a WAF web ACL (where a referer rule can
  refuse hotlinks), HTTPS only, S3 origins reachable only through CloudFront,
  and, for information, whether signed URLs are required anywhere.
"""

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from rampart.audit.collectors.aws_identity import (
    Distribution,
    IamFacts,
    RootAccount,
    Trail,
)
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity, Status

MAX_KEY_DAYS = 90
MAX_ROOT_IDLE_DAYS = 90
MIN_PASSWORD_LENGTH = 14


def _days(delta: timedelta) -> int:
    return delta.days


def skipped_resource(check: Check, resource: str, why: str) -> Finding:
    """A skipped finding about one resource (the others of the check still count)."""
    return replace(check.finding(Status.SKIPPED, resource, ""), reason=why)


# -- IAM ----------------------------------------------------------------------------


class IamConsoleMfa(Check):
    meta = CheckMeta(
        "AWSIAM-001",
        "IAM user can sign in to the console without MFA",
        "8",
        Severity.HIGH,
        "aws iam create-virtual-mfa-device + enable-mfa-device for the user "
        "(or delete its login profile if it needs no console)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        iam: IamFacts = facts.get("aws_iam")
        for user in iam.users:
            if not user.console:
                continue
            resource = f"iam user {user.name}"
            if user.mfa_devices:
                yield self.passed(resource, f"console password and MFA ({user.mfa_devices[0]})")
            else:
                yield self.failed(resource, "console password, no MFA device")


class IamAccessKeyAge(Check):
    meta = CheckMeta(
        "AWSIAM-002",
        f"IAM access key older than {MAX_KEY_DAYS} days or unused for {MAX_KEY_DAYS} days",
        "8",
        Severity.MEDIUM,
        "aws iam create-access-key, move the user to the new key, then "
        "aws iam delete-access-key --access-key-id OLD (delete unused keys outright)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        iam: IamFacts = facts.get("aws_iam")
        for user in iam.users:
            for key in user.keys:
                if not key.active:
                    continue
                resource = f"iam user {user.name} key {key.id}"
                age = _days(iam.collected - key.created)
                used = (
                    "never used"
                    if key.last_used is None
                    else (f"last used {_days(iam.collected - key.last_used)} days ago")
                )
                idle = _days(iam.collected - (key.last_used or key.created))
                evidence = f"created {age} days ago, {used}"
                if age > MAX_KEY_DAYS or idle > MAX_KEY_DAYS:
                    yield self.failed(resource, evidence)
                else:
                    yield self.passed(resource, evidence)


class IamUserAdministrator(Check):
    meta = CheckMeta(
        "AWSIAM-003",
        "administrator policy attached directly to an IAM user",
        "8",
        Severity.HIGH,
        "aws iam detach-user-policy (or delete-user-policy); grant admin through a group "
        "or a role the few leads assume, everyone else the least they need",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        iam: IamFacts = facts.get("aws_iam")
        for user in iam.users:
            resource = f"iam user {user.name}"
            if user.admin_policies:
                yield self.failed(resource, "grants everything: " + ", ".join(user.admin_policies))
            else:
                yield self.passed(resource, "no attached or inline policy grants everything")


class IamPasswordPolicy(Check):
    meta = CheckMeta(
        "AWSIAM-004",
        "IAM password policy weak or missing",
        "8",
        Severity.MEDIUM,
        f"aws iam update-account-password-policy --minimum-password-length "
        f"{MIN_PASSWORD_LENGTH} --password-reuse-prevention 24",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        iam: IamFacts = facts.get("aws_iam")
        resource = "iam account password policy"
        policy = iam.password_policy
        if policy is None:
            yield self.failed(resource, "no password policy (AWS's default: 8 characters)")
            return
        length = int(policy.get("MinimumPasswordLength", 0))
        reuse = int(policy.get("PasswordReusePrevention", 0))
        problems = []
        if length < MIN_PASSWORD_LENGTH:
            problems.append(f"minimum length {length} < {MIN_PASSWORD_LENGTH}")
        if reuse < 1:
            problems.append("old passwords may be reused")
        if problems:
            yield self.failed(resource, "; ".join(problems))
        else:
            yield self.passed(resource, f"minimum length {length}, remembers {reuse} passwords")


class IamRootAccount(Check):
    meta = CheckMeta(
        "AWSIAM-005",
        "root account has access keys, has no MFA, or was used recently",
        "8",
        Severity.CRITICAL,
        "delete root's access keys, enable MFA on root, and sign in as an IAM user "
        "or through SSO for daily work",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        root: RootAccount = facts.get("aws_credential_report")
        if root.active_keys:
            yield self.failed("root access keys", "active: " + ", ".join(root.active_keys))
        else:
            yield self.passed("root access keys", "no active access key")
        if root.mfa_active:
            yield self.passed("root MFA", "MFA active")
        else:
            yield self.failed("root MFA", "no MFA")
        if root.last_used is None:
            use = self.passed("root recent use", "no recorded use")
        else:
            days = _days(root.collected - root.last_used)
            evidence = f"last used {days} days ago"
            if days < MAX_ROOT_IDLE_DAYS:
                use = self.failed("root recent use", evidence)
            else:
                use = self.passed("root recent use", evidence)
        yield replace(use, severity=Severity.MEDIUM)


# -- CloudTrail ---------------------------------------------------------------------


class CloudTrailMultiRegion(Check):
    meta = CheckMeta(
        "AWSCT-001",
        "no multi-region CloudTrail trail is logging",
        "10",
        Severity.HIGH,
        "aws cloudtrail create-trail --name all --s3-bucket-name BUCKET "
        "--is-multi-region-trail --enable-log-file-validation; "
        "aws cloudtrail start-logging --name all",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        trails: tuple[Trail, ...] = facts.get("aws_cloudtrail")
        good = [t.name for t in trails if t.multi_region and t.logging]
        if good:
            yield self.passed("cloudtrail", "multi-region and logging: " + ", ".join(good))
        elif trails:
            seen = ", ".join(
                f"{t.name} ({'multi' if t.multi_region else 'single'}-region, "
                f"{'logging' if t.logging else 'not logging'})"
                for t in trails
            )
            yield self.failed("cloudtrail", f"none multi-region and logging: {seen}")
        else:
            yield self.failed("cloudtrail", "no trail")


class CloudTrailLogValidation(Check):
    meta = CheckMeta(
        "AWSCT-002",
        "CloudTrail trail without log file validation",
        "10",
        Severity.MEDIUM,
        "aws cloudtrail update-trail --name TRAIL --enable-log-file-validation",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        trails: tuple[Trail, ...] = facts.get("aws_cloudtrail")
        for trail in trails:
            resource = f"cloudtrail {trail.name}"
            if trail.log_validation:
                yield self.passed(resource, "log file validation on")
            else:
                yield self.failed(resource, "log file validation off: edits go unnoticed")


class CloudTrailPublicBucket(Check):
    meta = CheckMeta(
        "AWSCT-003",
        "CloudTrail bucket is public",
        "10",
        Severity.CRITICAL,
        "aws s3api put-public-access-block --bucket BUCKET --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
        "RestrictPublicBuckets=true",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        trails: tuple[Trail, ...] = facts.get("aws_cloudtrail")
        for trail in trails:
            resource = f"cloudtrail {trail.name} bucket {trail.bucket}"
            if trail.bucket_public is None:
                yield skipped_resource(self, resource, trail.bucket_evidence)
            elif trail.bucket_public:
                yield self.failed(resource, trail.bucket_evidence)
            else:
                yield self.passed(resource, trail.bucket_evidence)


# -- CloudFront ---------------------------------------------------------------------


def _distributions(facts: Facts) -> tuple[Distribution, ...]:
    found: tuple[Distribution, ...] = facts.get("aws_cloudfront")
    return found


class CloudFrontWaf(Check):
    meta = CheckMeta(
        "AWSCF-001",
        "CloudFront distribution without a WAF web ACL",
        "11",
        Severity.MEDIUM,
        "create a WAFv2 web ACL (scope CLOUDFRONT) with a referer rule for media, "
        "then set it as the distribution's WebACLId",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        for dist in _distributions(facts):
            resource = f"cloudfront {dist.id}"
            if dist.web_acl:
                yield self.passed(resource, f"web ACL {dist.web_acl}")
            else:
                yield self.failed(resource, f"no web ACL on {dist.domain}")


class CloudFrontPlainHttp(Check):
    meta = CheckMeta(
        "AWSCF-002",
        "CloudFront behavior allows plain HTTP",
        "5",
        Severity.MEDIUM,
        "set the behavior's ViewerProtocolPolicy to redirect-to-https (or https-only)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        for dist in _distributions(facts):
            for behavior in dist.behaviors:
                resource = f"cloudfront {dist.id} behavior {behavior.path}"
                evidence = f"ViewerProtocolPolicy {behavior.viewer_protocol}"
                if behavior.viewer_protocol == "allow-all":
                    yield self.failed(resource, evidence)
                else:
                    yield self.passed(resource, evidence)


def _looks_like_s3(domain: str) -> bool:
    """An S3 REST endpoint (``BUCKET.s3.REGION.amazonaws.com``), not a website endpoint."""
    return (
        domain.endswith(".amazonaws.com") and ".s3." in f".{domain}" and "s3-website" not in domain
    )


class CloudFrontS3OriginAccess(Check):
    meta = CheckMeta(
        "AWSCF-003",
        "CloudFront S3 origin without origin access control",
        "5",
        Severity.HIGH,
        "aws cloudfront create-origin-access-control, set it as the origin's "
        "OriginAccessControlId, allow only cloudfront.amazonaws.com in the bucket policy "
        "and block public access on the bucket",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        for dist in _distributions(facts):
            for origin in dist.origins:
                resource = f"cloudfront {dist.id} origin {origin.id}"
                if origin.kind == "unknown" and _looks_like_s3(origin.domain):
                    why = (
                        "the API reported neither S3OriginConfig nor CustomOriginConfig "
                        f"for {origin.domain}"
                    )
                    yield skipped_resource(self, resource, why)
                elif origin.kind != "s3":
                    continue
                elif origin.access_control:
                    yield self.passed(resource, f"origin access control {origin.access_control}")
                elif origin.access_identity:
                    yield self.passed(resource, f"origin access identity {origin.access_identity}")
                else:
                    yield self.failed(
                        resource, f"{origin.domain} without OAC or OAI: the bucket must be public"
                    )


class CloudFrontSignedUrls(Check):
    meta = CheckMeta(
        "AWSCF-004",
        "CloudFront distribution requires no signed URLs (for paid media)",
        "5",
        Severity.INFO,
        "if the distribution serves paid media: create a public key and key group, set it "
        "as TrustedKeyGroups on the media behaviors, and hand out signed URLs",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        for dist in _distributions(facts):
            resource = f"cloudfront {dist.id}"
            signed = [b.path for b in dist.behaviors if b.key_groups or b.trusted_signers]
            if signed:
                yield self.passed(resource, "signed URLs required on: " + ", ".join(signed))
            else:
                yield self.failed(resource, f"no signed URLs required on {dist.id}")
