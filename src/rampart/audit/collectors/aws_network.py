"""Facts about the AWS account's network side: security groups, RDS, S3 exposure.

- ``aws_security_groups``: every security group with its ingress rules
  (``ec2 describe-security-groups``, paginated).
- ``aws_rds_instances``: every RDS instance and whether it is publicly
  accessible (``rds describe-db-instances``, paginated).
- ``aws_s3``: the account-level S3 public access block (``s3control
  get-public-access-block`` for the account id that ``sts
  get-caller-identity`` reports) and, for each bucket, its own public access
  block, whether its policy is public (``get-bucket-policy-status``) and the
  ACL grants it gives to everyone or to any AWS user.

Regions: one, the session's: ``[audit] aws_region`` when set, else boto3's
usual chain (``AWS_DEFAULT_REGION``, ``~/.aws/config``), else us-east-1.
Security groups and RDS instances in other regions are not looked at. S3's
bucket list is global; each bucket is read through the session's region
(boto3 follows S3's redirects to the bucket's own region).

An API error that stops a whole collector (no permission to list, endpoint
unreachable) makes it :class:`Unavailable`; an error reading one bucket is
kept on that bucket, so the other buckets are still judged.
"""

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rampart.audit.collectors import _aws
from rampart.audit.interface import Unavailable

WORLD = ("0.0.0.0/0", "::/0")
EVERYONE = "http://acs.amazonaws.com/groups/global/AllUsers"
ANY_AWS_USER = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_NO_BLOCK = "NoSuchPublicAccessBlockConfiguration"
_NO_POLICY = "NoSuchBucketPolicy"

# -- security groups ------------------------------------------------------------


@dataclass(frozen=True)
class IngressRule:
    """One ingress permission: a protocol, a port range and where from."""

    protocol: str
    """``tcp``, ``udp``, ``icmp``, ``-1`` (every protocol) or an IP protocol number."""
    from_port: int | None
    to_port: int | None
    sources: tuple[str, ...]
    """CIDRs (IPv4 and IPv6), prefix list ids and security group ids."""

    @property
    def all_traffic(self) -> bool:
        """Every protocol, or every port of TCP or UDP."""
        if self.protocol == "-1":
            return True
        if self.protocol in ("tcp", "udp", "6", "17"):
            low, high = self.from_port, self.to_port
            return low is None or high is None or (low <= 0 and high >= 65535) or low == -1
        return False

    def covers(self, port: int) -> bool:
        if self.all_traffic:
            return True
        low, high = self.from_port, self.to_port
        return low is not None and high is not None and low <= port <= high

    @property
    def label(self) -> str:
        """``22/tcp``, ``20-30/tcp``, ``all/all`` ..."""
        protocol = {"-1": "all", "6": "tcp", "17": "udp"}.get(self.protocol, self.protocol)
        low, high = self.from_port, self.to_port
        if self.protocol == "-1" or low is None or high is None or low == -1:
            ports = "all"
        elif low == high:
            ports = str(low)
        else:
            ports = f"{low}-{high}"
        return f"{ports}/{protocol}"

    @property
    def world(self) -> tuple[str, ...]:
        """The sources that mean anyone on the internet."""
        return tuple(source for source in self.sources if _is_world(source))


def _is_world(source: str) -> bool:
    try:
        network = ipaddress.ip_network(source, strict=False)
    except ValueError:
        return False  # a prefix list or a security group
    return network.prefixlen == 0


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    vpc: str
    region: str
    ingress: tuple[IngressRule, ...]


def _rule(permission: dict[str, Any]) -> IngressRule:
    sources = [r["CidrIp"] for r in permission.get("IpRanges", []) if "CidrIp" in r]
    sources += [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", []) if "CidrIpv6" in r]
    sources += [r["PrefixListId"] for r in permission.get("PrefixListIds", [])]
    sources += [p.get("GroupId", "?") for p in permission.get("UserIdGroupPairs", [])]
    return IngressRule(
        protocol=str(permission.get("IpProtocol", "-1")).lower(),
        from_port=permission.get("FromPort"),
        to_port=permission.get("ToPort"),
        sources=tuple(sources),
    )


def collect_security_groups() -> list[SecurityGroup]:
    ec2 = _aws.client("ec2")
    region = ec2.meta.region_name
    groups = []
    for page in _pages(ec2, "describe_security_groups", "ec2 describe-security-groups"):
        for group in page.get("SecurityGroups", []):
            groups.append(
                SecurityGroup(
                    id=group["GroupId"],
                    name=group.get("GroupName", ""),
                    vpc=group.get("VpcId", ""),
                    region=region,
                    ingress=tuple(_rule(p) for p in group.get("IpPermissions", [])),
                )
            )
    return groups


# -- RDS ------------------------------------------------------------------------


@dataclass(frozen=True)
class DbInstance:
    id: str
    engine: str
    region: str
    publicly_accessible: bool
    address: str


def collect_rds_instances() -> list[DbInstance]:
    rds = _aws.client("rds")
    region = rds.meta.region_name
    instances = []
    for page in _pages(rds, "describe_db_instances", "rds describe-db-instances"):
        for instance in page.get("DBInstances", []):
            instances.append(
                DbInstance(
                    id=instance["DBInstanceIdentifier"],
                    engine=instance.get("Engine", ""),
                    region=region,
                    publicly_accessible=bool(instance.get("PubliclyAccessible", False)),
                    address=(instance.get("Endpoint") or {}).get("Address", ""),
                )
            )
    return instances


# -- S3 -------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicAccessBlock:
    """The four switches of an S3 public access block (account or bucket)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @classmethod
    def read(cls, data: dict[str, Any]) -> "PublicAccessBlock":
        return cls(
            bool(data.get("BlockPublicAcls")),
            bool(data.get("IgnorePublicAcls")),
            bool(data.get("BlockPublicPolicy")),
            bool(data.get("RestrictPublicBuckets")),
        )

    def missing(self) -> list[str]:
        """The switches that are off, by their API names."""
        switches = {
            "BlockPublicAcls": self.block_public_acls,
            "IgnorePublicAcls": self.ignore_public_acls,
            "BlockPublicPolicy": self.block_public_policy,
            "RestrictPublicBuckets": self.restrict_public_buckets,
        }
        return [name for name, on in switches.items() if not on]

    def combined(self, other: "PublicAccessBlock | None") -> "PublicAccessBlock":
        """What S3 enforces: a switch is on if the account's or the bucket's is."""
        if other is None:
            return self
        return PublicAccessBlock(
            self.block_public_acls or other.block_public_acls,
            self.ignore_public_acls or other.ignore_public_acls,
            self.block_public_policy or other.block_public_policy,
            self.restrict_public_buckets or other.restrict_public_buckets,
        )


@dataclass(frozen=True)
class Bucket:
    name: str
    block: PublicAccessBlock | None
    """The bucket's own public access block; None: it has none."""
    policy_public: bool
    """S3 judges its bucket policy public (False without a policy)."""
    public_grants: tuple[str, ...]
    """ACL grants to everyone or any AWS user, as ``AllUsers READ``."""
    unreadable: str | None = None
    """Why this bucket's settings could not be read (the other fields then mean nothing)."""


@dataclass(frozen=True)
class S3Facts:
    account: str
    account_block: PublicAccessBlock | None
    """None: the account has no public access block at all."""
    buckets: tuple[Bucket, ...]


def collect_s3() -> S3Facts:
    sts = _aws.client("sts")
    account = str(_aws.call("sts get-caller-identity", sts.get_caller_identity)["Account"])
    control = _aws.client("s3control")
    _talk_to_a_test_endpoint(control, account)
    answer = _aws.call(
        "s3control get-public-access-block",
        _none_if(control.get_public_access_block, _NO_BLOCK),
        AccountId=account,
    )
    account_block = (
        None
        if answer is None
        else PublicAccessBlock.read(answer.get("PublicAccessBlockConfiguration", {}))
    )
    s3 = _aws.client("s3")
    listed = _aws.call("s3 list-buckets", s3.list_buckets).get("Buckets", [])
    buckets = tuple(_bucket(s3, entry["Name"]) for entry in listed)
    return S3Facts(account, account_block, buckets)


def _bucket(s3: Any, name: str) -> Bucket:
    try:
        answer = _aws.call(
            f"s3 get-public-access-block {name}",
            _none_if(s3.get_public_access_block, _NO_BLOCK),
            Bucket=name,
        )
        block = (
            None
            if answer is None
            else PublicAccessBlock.read(answer.get("PublicAccessBlockConfiguration", {}))
        )
        status = _aws.call(
            f"s3 get-bucket-policy-status {name}",
            _none_if(s3.get_bucket_policy_status, _NO_POLICY),
            Bucket=name,
        )
        policy_public = bool(status and status.get("PolicyStatus", {}).get("IsPublic"))
        acl = _aws.call(f"s3 get-bucket-acl {name}", s3.get_bucket_acl, Bucket=name)
    except Unavailable as why:
        return Bucket(name, None, False, (), unreadable=str(why))
    return Bucket(name, block, policy_public, tuple(_public_grants(acl.get("Grants", []))))


def _public_grants(grants: Iterable[dict[str, Any]]) -> Iterable[str]:
    for grant in grants:
        uri = grant.get("Grantee", {}).get("URI", "")
        if uri in (EVERYONE, ANY_AWS_USER):
            yield f"{uri.rsplit('/', 1)[-1]} {grant.get('Permission', '?')}"


# -- helpers --------------------------------------------------------------------


def _pages(client: Any, operation: str, what: str) -> Iterable[dict[str, Any]]:
    """Every page of a paginated call; an error on any page makes the whole Unavailable."""
    pages = iter(client.get_paginator(operation).paginate())
    while True:
        page = _aws.call(what, lambda: next(pages, None))
        if page is None:
            return
        yield page


def _none_if(function: Callable[..., Any], code: str) -> Callable[..., Any]:
    """``function``, answering None for the AWS error ``code`` (it means "there is none")."""

    def calling(**kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return function(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == code:
                return None
            raise

    return calling


def _talk_to_a_test_endpoint(control: Any, account: str) -> None:
    """Let s3control reach a test server at an IP address or localhost (moto_server).

    botocore puts the account id in front of the host (``123456789012.s3-control...``);
    in front of an IP address or ``localhost`` that name cannot resolve, so there
    the prefix is taken off before the request is signed. Real endpoints are untouched.
    """
    endpoint = urlsplit(control.meta.endpoint_url or "")
    host = endpoint.hostname or ""
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return

    def unprefix(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc == f"{account}.{endpoint.netloc}":
            request.url = urlunsplit(parts._replace(netloc=endpoint.netloc))

    control.meta.events.register("before-sign.s3-control", unprefix)


COLLECTORS: dict[str, Callable[[], Any]] = {
    "aws_security_groups": collect_security_groups,
    "aws_rds_instances": collect_rds_instances,
    "aws_s3": collect_s3,
}
