"""File integrity in ``rampart watch``: real-time (inotify) and periodic checks become alerts."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rampart.config import Settings, validate_settings
from rampart.fim import Fim
from rampart.notify.store import AlertStore
from tests import watching
from tests.watching import wait_until


def settings_for(tmp_path: Path, **fim: object) -> Settings:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True, exist_ok=True)
    (tree / "etc" / "app.conf").write_text("port = 80\n")
    (tmp_path / "dpkg").mkdir(exist_ok=True)
    return validate_settings(
        {
            "state_dir": str(tmp_path / "state"),
            "ban": {"jails": {}, "backend": "log"},
            "fim": {
                "paths": [str(tree)],
                "dpkg_info": str(tmp_path / "dpkg"),
                "nice": 0,
                "ionice": "none",
                **fim,
            },
        }
    )


class Running(watching.Running):
    def alerts(self) -> list[tuple[int, str]]:
        with AlertStore.in_state_dir(self.settings.state_dir) as store:
            return [(a.event.rule_id, a.event.location) for a in store.alerts()]


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for one in started:
        one.stop()


def test_realtime_change_becomes_an_alert(tmp_path: Path, running: list[Running]) -> None:
    settings = settings_for(tmp_path, realtime=True)
    Fim(settings.fim, settings.state_dir, processes=1).init()
    running.append(Running(settings))
    conf = tmp_path / "tree" / "etc" / "app.conf"
    conf.write_text("port = 8080\n")
    wait_until(lambda: (550, str(conf)) in running[0].alerts())
    assert "fim:realtime" in running[0].watcher.status()["detectors"]


def test_periodic_check_reports_each_change_once(tmp_path: Path, running: list[Running]) -> None:
    settings = settings_for(tmp_path, check_interval=0.2)
    Fim(settings.fim, settings.state_dir, processes=1).init()
    conf = tmp_path / "tree" / "etc" / "app.conf"
    conf.write_text("port = 8080\n")
    added = tmp_path / "tree" / "etc" / "new.conf"
    added.write_text("x\n")
    running.append(Running(settings))
    wait_until(lambda: {(550, str(conf)), (554, str(added))} <= set(running[0].alerts()))
    time.sleep(1.0)  # several more rounds: the same changes are not alerted again
    assert sorted(running[0].alerts()) == sorted([(550, str(conf)), (554, str(added))])
    conf.write_text("port = 9090\n")  # a new change to the same file is
    wait_until(lambda: running[0].alerts().count((550, str(conf))) == 2)


def test_without_a_baseline_the_daemon_runs_and_says_why(
    tmp_path: Path, running: list[Running], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, realtime=True, check_interval=0.1)
    running.append(Running(settings))

    def said() -> str:
        return " ".join(record.getMessage() for record in caplog.records)

    assert "fim: no real-time monitoring" in said() and "fim init" in said()
    wait_until(lambda: "fim: " in said().replace("fim: no real-time", ""))  # each round says it
    detectors = running[0].watcher.status()["detectors"]
    assert "fim" in detectors and "fim:realtime" not in detectors
