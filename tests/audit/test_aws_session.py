"""The AWS session: boto3 reaches moto_server through AWS_ENDPOINT_URL; no credentials, skipped."""

from pathlib import Path

import pytest

from rampart.audit import Unavailable
from rampart.audit.collectors import _aws
from tests.audit.moto import aws, moto_endpoint  # noqa: F401  (fixtures, used by name)


def test_boto3_reaches_moto_server(aws: str) -> None:  # noqa: F811
    ec2 = _aws.client("ec2")
    assert ec2.meta.endpoint_url == aws
    groups = _aws.call("ec2 describe-security-groups", ec2.describe_security_groups)
    assert "SecurityGroups" in groups


def test_without_credentials_the_aws_part_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("RAMPART_CONFIG", str(tmp_path / "r.toml"))
    (tmp_path / "r.toml").write_text("")
    _aws.session.cache_clear()
    try:
        with pytest.raises(Unavailable, match="no AWS credentials"):
            _aws.session()
    finally:
        _aws.session.cache_clear()
