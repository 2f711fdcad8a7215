"""AWSSG-001, AWSRDS-001, AWSS3-001..003 over real resources made in moto_server with boto3."""

import json
from typing import Any

import boto3
import pytest

from rampart.audit import Check, Facts, Status, load_checks, load_collectors, run_audit
from rampart.audit.collectors import _aws
from rampart.audit.collectors.aws_network import _talk_to_a_test_endpoint, collect_s3
from tests.audit.moto import aws, moto_endpoint  # noqa: F401  (fixtures, used by name)
from tests.conftest import run_rampart

ACCOUNT = "123456789012"  # moto's
FULL_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

Result = tuple[Status, str, str]


def checks(prefix: str) -> list[Check]:
    return [check for check in load_checks() if check.meta.id.startswith(prefix)]


def results(prefix: str) -> dict[str, list[Result]]:
    """The findings of the checks whose id starts with ``prefix``, over the real collectors."""
    by_check: dict[str, list[Result]] = {}
    for finding in run_audit(Facts(load_collectors()), checks(prefix)).findings:
        by_check.setdefault(finding.check, []).append(
            (finding.status, finding.resource, finding.evidence)
        )
    return by_check


def open_group(ec2: Any, vpc: str, name: str, *permissions: dict[str, Any]) -> str:
    group: str = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=list(permissions))
    return group


def tcp(port: int, *cidrs: str, last: int | None = None) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port if last is None else last,
        "IpRanges": [{"CidrIp": c} for c in cidrs if ":" not in c],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs if ":" in c],
    }


def test_security_groups_open_to_the_world(aws: str) -> None:  # noqa: F811
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ssh = open_group(ec2, vpc, "ssh", tcp(22, "0.0.0.0/0"))
    postgres = open_group(ec2, vpc, "pg", tcp(5432, "::/0"), tcp(443, "0.0.0.0/0"))
    everything = open_group(
        ec2, vpc, "all", {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    )
    web = open_group(ec2, vpc, "web", tcp(443, "0.0.0.0/0", "::/0"), tcp(80, "0.0.0.0/0"))
    office = open_group(ec2, vpc, "office", tcp(22, "203.0.113.0/24"), tcp(5432, "10.1.0.0/16"))
    span = open_group(ec2, vpc, "span", tcp(20, "0.0.0.0/0", last=30))

    findings = run_audit(Facts(load_collectors()), checks("AWSSG-")).findings
    by_group: dict[str, list[tuple[Status, str, str, str]]] = {}
    for f in findings:
        by_group.setdefault(f.resource.split(" ")[0], []).append(
            (f.status, f.severity.name, f.resource, f.evidence)
        )

    [(status, severity, resource, evidence)] = by_group[ssh]
    assert (status, severity, resource) == (Status.FAIL, "HIGH", f"{ssh} (ssh) 22/tcp")
    assert evidence.startswith("0.0.0.0/0 may reach SSH 22")
    # One finding per rule: the 443 rule beside the open database is not one.
    [(status, severity, resource, evidence)] = by_group[postgres]
    assert (status, resource) == (Status.FAIL, f"{postgres} (pg) 5432/tcp")
    assert evidence.startswith("::/0 may reach PostgreSQL 5432")
    [(status, severity, resource, _)] = by_group[everything]
    assert (status, severity, resource) == (Status.FAIL, "CRITICAL", f"{everything} (all) all/all")
    [(status, _, resource, _)] = by_group[span]
    assert (status, resource) == (Status.FAIL, f"{span} (span) 20-30/tcp")
    # 80 and 443 to the world are a web server, not a finding; nor is SSH from an office CIDR.
    for group, name in ((web, "web"), (office, "office")):
        [(status, _, resource, evidence)] = by_group[group]
        assert (status, resource) == (Status.PASS, f"{group} ({name})"), evidence
    # moto's default groups (no ingress from the world) pass as well.
    defaults = [g for g in by_group if g not in {ssh, postgres, everything, web, office, span}]
    assert defaults and all(by_group[g][0][0] is Status.PASS for g in defaults)


def test_rds_publicly_accessible(aws: str) -> None:  # noqa: F811
    rds = boto3.client("rds")
    for name, public in (("open-db", True), ("inside-db", False)):
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="app",
            MasterUserPassword="not-a-secret-1",
            AllocatedStorage=20,
            PubliclyAccessible=public,
        )
    found = sorted(results("AWSRDS-")["AWSRDS-001"], key=lambda r: r[1])
    assert [(s, r) for s, r, _ in found] == [
        (Status.PASS, "rds inside-db (postgres, us-east-1)"),
        (Status.FAIL, "rds open-db (postgres, us-east-1)"),
    ]
    assert found[1][2].startswith("PubliclyAccessible true")


def make_buckets() -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="blocked-bucket")
    s3.put_public_access_block(Bucket="blocked-bucket", PublicAccessBlockConfiguration=FULL_BLOCK)
    s3.create_bucket(Bucket="plain-bucket")
    s3.create_bucket(Bucket="public-bucket")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::public-bucket/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket="public-bucket", Policy=json.dumps(policy))
    s3.create_bucket(Bucket="acl-bucket")
    s3.put_bucket_acl(Bucket="acl-bucket", ACL="public-read")


def by_resource(found: list[Result]) -> dict[str, tuple[Status, str]]:
    return {resource: (status, evidence) for status, resource, evidence in found}


def test_s3_without_an_account_block(aws: str) -> None:  # noqa: F811
    make_buckets()
    found = results("AWSS3-")
    assert found["AWSS3-001"] == [
        (Status.FAIL, f"account {ACCOUNT} S3 public access block", "no public access block")
    ]
    blocks = by_resource(found["AWSS3-002"])
    assert blocks["s3 blocked-bucket"] == (Status.PASS, "bucket: all four switches on")
    for name in ("plain-bucket", "public-bucket", "acl-bucket"):
        status, evidence = blocks[f"s3 {name}"]
        assert status is Status.FAIL and "bucket: no public access block" in evidence
    public = by_resource(found["AWSS3-003"])
    assert public["s3 public-bucket"] == (Status.FAIL, "its bucket policy is public")
    assert public["s3 acl-bucket"] == (Status.FAIL, "its ACL grants AllUsers READ")
    assert public["s3 plain-bucket"][0] is Status.PASS
    assert public["s3 blocked-bucket"][0] is Status.PASS


def test_s3_with_a_full_account_block(aws: str) -> None:  # noqa: F811
    make_buckets()
    control = boto3.client("s3control")
    _talk_to_a_test_endpoint(control, ACCOUNT)
    control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=FULL_BLOCK)
    found = results("AWSS3-")
    assert found["AWSS3-001"] == [
        (Status.PASS, f"account {ACCOUNT} S3 public access block", "all four switches on")
    ]
    blocks = by_resource(found["AWSS3-002"])
    assert {status for status, _ in blocks.values()} == {Status.PASS}
    assert blocks["s3 plain-bucket"][1].startswith("covered by the account-level block")
    public = by_resource(found["AWSS3-003"])
    assert {status for status, _ in public.values()} == {Status.PASS}
    assert "RestrictPublicBuckets on" in public["s3 public-bucket"][1]
    assert "IgnorePublicAcls on" in public["s3 acl-bucket"][1]


def test_a_partial_account_block_names_what_is_off(aws: str) -> None:  # noqa: F811
    control = boto3.client("s3control")
    _talk_to_a_test_endpoint(control, ACCOUNT)
    partial = {**FULL_BLOCK, "RestrictPublicBuckets": False}
    control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=partial)
    facts = collect_s3()
    assert facts.account == ACCOUNT and facts.buckets == ()
    assert facts.account_block is not None
    assert facts.account_block.missing() == ["RestrictPublicBuckets"]
    assert results("AWSS3-001")["AWSS3-001"][0][:2] == (
        Status.FAIL,
        f"account {ACCOUNT} S3 public access block",
    )


def test_an_unreachable_endpoint_skips_with_the_reason(
    aws: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _aws.session.cache_clear()
    report = run_audit(Facts(load_collectors()), checks("AWSSG-"))
    [finding] = report.findings
    assert finding.status is Status.SKIPPED
    assert (finding.reason or "").startswith("ec2 describe-security-groups: ")


def test_cli_aws_endpoint_and_no_aws(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    group = open_group(ec2, vpc, "ssh", tcp(22, "0.0.0.0/0"))
    # Only the option points the child at moto_server (credentials stay in the environment).
    monkeypatch.delenv("AWS_ENDPOINT_URL")

    done = run_rampart(["audit", "--json", "--aws-endpoint", aws])
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)["findings"]
    failed = [f for f in findings if f["check"] == "AWSSG-001" and f["status"] == "fail"]
    assert [f["resource"] for f in failed] == [f"{group} (ssh) 22/tcp"]

    done = run_rampart(["audit", "--json", "--aws-endpoint", aws, "--no-aws"])
    assert done.returncode == 0, done.stderr
    checked = {f["check"] for f in json.loads(done.stdout)["findings"]}
    assert checked and not any(check.startswith("AWS") for check in checked)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:5000", "127.0.0.1:5000", "http://", "http://h:x"])
def test_cli_refuses_a_bad_aws_endpoint(url: str) -> None:
    done = run_rampart(["audit", "--json", "--aws-endpoint", url])
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("rampart: error: --aws-endpoint")
