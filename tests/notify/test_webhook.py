"""JSON webhooks against a real local HTTP receiver: Slack and generic bodies, down then up."""

from pathlib import Path

import pytest

from tests.notify.conftest import Receiver, event, make_dispatcher

T0 = 1_800_000_000.0


def test_slack_and_generic_bodies_with_a_token_from_the_environment(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret-token")
    hooks = [
        {"name": "slack", "url": receiver.url, "format": "slack", "min_level": 10},
        {"name": "siem", "url": receiver.url, "format": "json", "min_level": 3,
         "password_env": "HOOK_TOKEN"},
    ]  # fmt: skip
    with make_dispatcher({"webhooks": hooks}, tmp_path) as alerts:
        alerts.publish(event(5), now=T0)
        alerts.publish(event(11, rule_id=5720), now=T0)
    bodies = [body for body, _ in receiver.posts]
    generic = [body["alert"] for body in bodies if "alert" in body]
    slack = [body["text"] for body in bodies if "text" in body]
    assert [(a["level"], a["rule_id"]) for a in generic] == [(5, 5710), (11, 5720)]
    assert generic[0]["fields"] == {"srcip": "198.51.100.7", "user": "admin"}
    assert len(slack) == 1 and "level 11, rule 5720" in slack[0]
    tokens = [headers.get("Authorization") for body, headers in receiver.posts if "alert" in body]
    assert tokens == ["Bearer s3cret-token"] * 2
    assert all("Authorization" not in h for b, h in receiver.posts if "text" in b)


def test_a_failing_webhook_keeps_the_alert_and_retries_with_backoff(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.status = 503
    config = {
        "webhooks": [{"name": "ops", "url": receiver.url, "min_level": 3}],
        "retry_min": 30,
    }
    with make_dispatcher(config, tmp_path) as alerts:
        alerts.publish(event(9), now=T0)
        state = alerts.store.channel_state("webhook:ops")
        assert state.last_error == "webhook ops: HTTP 503 Service Unavailable"
        assert alerts.store.pending() == {"webhook:ops": 1}
    receiver.status = 200
    with make_dispatcher(config, tmp_path) as alerts:  # restarted: resumes from the store
        alerts.flush(T0 + 10)
        assert receiver.posts == []  # backing off until T0 + 30
        alerts.flush(T0 + 30)
        assert alerts.store.pending() == {}
    assert len(receiver.posts) == 1


def test_a_webhook_nobody_listens_on_is_retried_too(tmp_path: Path) -> None:
    from tests.notify.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/hook"
    with make_dispatcher({"webhooks": [{"name": "gone", "url": url}]}, tmp_path) as alerts:
        alerts.publish(event(9), now=T0)
        assert alerts.store.pending() == {"webhook:gone": 1}
        assert "refused" in alerts.store.channel_state("webhook:gone").last_error
