"""AWS network-side checks: security groups and RDS (practice 9), S3 exposure (practice 5).

They read the "aws_security_groups", "aws_rds_instances" and "aws_s3" facts
(one region: see :mod:`rampart.audit.collectors.aws_network`). Without AWS
credentials they are skipped, saying why.

A security group is judged only on what it lets in from anyone (``0.0.0.0/0``
or ``::/0``) to remote logins, databases or every port. Ports 80 and 443 open
to the world are what a web server is for and are not findings.
"""

from collections.abc import Iterable
from dataclasses import replace

from rampart.audit.collectors.aws_network import (
    Bucket,
    DbInstance,
    IngressRule,
    PublicAccessBlock,
    S3Facts,
    SecurityGroup,
)
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity

SENSITIVE_PORTS: dict[int, tuple[str, tuple[str, ...]]] = {
    22: ("SSH", ("tcp",)),
    3389: ("RDP", ("tcp", "udp")),
    3306: ("MySQL", ("tcp",)),
    5432: ("PostgreSQL", ("tcp",)),
    1433: ("SQL Server", ("tcp",)),
    1521: ("Oracle", ("tcp",)),
    6379: ("Redis", ("tcp",)),
    27017: ("MongoDB", ("tcp",)),
    9200: ("Elasticsearch", ("tcp",)),
    11211: ("Memcached", ("tcp", "udp")),
}
"""Ports that must never be open to the world, and the protocols they listen on."""
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp"}


def _exposed(rule: IngressRule) -> list[str]:
    """The sensitive services ``rule`` opens (``SSH 22`` ...), if it opens them to the world."""
    if not rule.world or rule.all_traffic:
        return []
    protocol = _PROTOCOL_NAMES.get(rule.protocol, rule.protocol)
    return [
        f"{name} {port}"
        for port, (name, protocols) in SENSITIVE_PORTS.items()
        if protocol in protocols and rule.covers(port)
    ]


class SecurityGroupOpenToWorld(Check):
    meta = CheckMeta(
        "AWSSG-001",
        "security group open to the world on a login, database or every port",
        "9",
        Severity.HIGH,
        "aws ec2 revoke-security-group-ingress --group-id SG --ip-permissions ... ; then allow "
        "only your office or VPN CIDR (or reach the machine through SSM Session Manager)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        groups: list[SecurityGroup] = facts.get("aws_security_groups")
        for group in groups:
            named = f"{group.id} ({group.name})"
            failed = False
            for rule in group.ingress:
                world = ", ".join(rule.world)
                resource = f"{named} {rule.label}"
                if rule.world and rule.all_traffic:
                    failed = True
                    finding = self.failed(
                        resource, f"{world} may reach every port ({group.region}, {group.vpc})"
                    )
                    yield replace(finding, severity=Severity.CRITICAL)
                elif exposed := _exposed(rule):
                    failed = True
                    yield self.failed(
                        resource,
                        f"{world} may reach {', '.join(exposed)} ({group.region}, {group.vpc})",
                    )
            if not failed:
                yield self.passed(
                    named,
                    f"no login, database or all-ports rule open to the world "
                    f"({len(group.ingress)} ingress rules, {group.region})",
                )


class RdsPubliclyAccessible(Check):
    meta = CheckMeta(
        "AWSRDS-001",
        "RDS instance is publicly accessible",
        "9",
        Severity.HIGH,
        "aws rds modify-db-instance --db-instance-identifier ID --no-publicly-accessible "
        "--apply-immediately (reach it from inside the VPC)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        instances: list[DbInstance] = facts.get("aws_rds_instances")
        for instance in instances:
            resource = f"rds {instance.id} ({instance.engine}, {instance.region})"
            if instance.publicly_accessible:
                yield self.failed(
                    resource,
                    f"PubliclyAccessible true: {instance.address or 'its address'} "
                    "resolves to a public IP",
                )
            else:
                yield self.passed(resource, "PubliclyAccessible false")


_BLOCK_ALL = (
    "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
)


def _block_evidence(block: PublicAccessBlock | None) -> str:
    if block is None:
        return "no public access block"
    missing = block.missing()
    return f"{', '.join(missing)} off" if missing else "all four switches on"


class S3AccountPublicAccessBlock(Check):
    meta = CheckMeta(
        "AWSS3-001",
        "the account-level S3 public access block is not fully on",
        "5",
        Severity.HIGH,
        "aws s3control put-public-access-block --account-id ID "
        f"--public-access-block-configuration {_BLOCK_ALL} "
        "(paid media then only through pre-signed URLs or CloudFront)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        s3: S3Facts = facts.get("aws_s3")
        resource = f"account {s3.account} S3 public access block"
        evidence = _block_evidence(s3.account_block)
        if s3.account_block is None or s3.account_block.missing():
            yield self.failed(resource, evidence)
        else:
            yield self.passed(resource, evidence)


def _unreadable(check: Check, bucket: Bucket) -> Finding:
    return replace(check.skipped(bucket.unreadable or "unreadable"), resource=f"s3 {bucket.name}")


class S3BucketPublicAccessBlock(Check):
    meta = CheckMeta(
        "AWSS3-002",
        "S3 bucket without a full public access block",
        "5",
        Severity.MEDIUM,
        f"aws s3api put-public-access-block --bucket NAME --public-access-block-configuration "
        f"{_BLOCK_ALL} (or turn on the account-level block, AWSS3-001)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        s3: S3Facts = facts.get("aws_s3")
        account = s3.account_block or PublicAccessBlock()
        for bucket in s3.buckets:
            if bucket.unreadable is not None:
                yield _unreadable(self, bucket)
                continue
            resource = f"s3 {bucket.name}"
            missing = account.combined(bucket.block).missing()
            own = f"bucket: {_block_evidence(bucket.block)}"
            if missing:
                yield self.failed(resource, f"{', '.join(missing)} off (account and bucket); {own}")
            elif bucket.block is None or bucket.block.missing():
                yield self.passed(resource, f"covered by the account-level block; {own}")
            else:
                yield self.passed(resource, own)


class S3BucketPublic(Check):
    meta = CheckMeta(
        "AWSS3-003",
        "S3 bucket is public through its policy or ACL",
        "5",
        Severity.CRITICAL,
        "aws s3api delete-bucket-policy / put-bucket-acl --acl private --bucket NAME, then a "
        "full public access block; serve paid media through pre-signed URLs",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        s3: S3Facts = facts.get("aws_s3")
        account = s3.account_block or PublicAccessBlock()
        for bucket in s3.buckets:
            if bucket.unreadable is not None:
                yield _unreadable(self, bucket)
                continue
            enforced = account.combined(bucket.block)
            public, neutralised = [], []
            if bucket.policy_public:
                if enforced.restrict_public_buckets:
                    neutralised.append("public policy (RestrictPublicBuckets on)")
                else:
                    public.append("its bucket policy is public")
            if bucket.public_grants:
                grants = ", ".join(bucket.public_grants)
                if enforced.ignore_public_acls:
                    neutralised.append(f"ACL {grants} (IgnorePublicAcls on)")
                else:
                    public.append(f"its ACL grants {grants}")
            resource = f"s3 {bucket.name}"
            if public:
                yield self.failed(resource, "; ".join(public))
            elif neutralised:
                yield self.passed(resource, "blocked: " + "; ".join(neutralised))
            else:
                yield self.passed(resource, "no public policy, no ACL grant to everyone")
