"""``kefu qa run`` against a temporary SQLite file: a run, a rerun, two workers, resume, and
clear errors for bad options."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from kefu.app import Services
from kefu.cli.qa_run import parse_duration, parse_instant
from kefu.qa import batch
from kefu.qa.models import QaRun
from tests.cli.test_cli import out, run
from tests.conftest import T0
from tests.qa.test_batch import committed_services, counts, results, seed

WINDOW = ("--since", "2d", "--until", "2026-11-12T00:00:00Z")


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, str],
                                                                              Services]]:
    for name in list(os.environ):
        if name.upper().startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    with committed_services(tmp_path, "sqlite://") as svc:
        seed(svc.uows, svc.clock, 12)
        env = {"KEFU_DATABASE_URL": svc.settings.resolved_database_url,
               "KEFU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
        yield env, svc


def test_run_then_rerun_replaces(shop):
    env, svc = shop
    assert counts(svc.uows) == (0, 0)
    r = run(env, "qa", "run", *WINDOW, "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    expected = results(svc.uows)
    hits = sum(v[2] for v in expected.values())
    average = sum(v[0] for v in expected.values()) / 12
    assert f"12 conversations inspected, {hits} hits, average score {average:.2f}" in out(r)
    assert "(12/12 done)" in out(r)
    r = run(env, "qa", "run", *WINDOW)
    assert r.exit_code == 0, out(r)
    assert "12 conversations inspected" in out(r)
    assert results(svc.uows) == expected
    assert counts(svc.uows) == (12, hits)


def test_two_workers_and_a_rule(shop):
    env, svc = shop
    r = run(env, "qa", "run", *WINDOW)
    assert r.exit_code == 0, out(r)
    expected = results(svc.uows)
    r = run(env, "qa", "run", *WINDOW, "--workers", "2")
    assert r.exit_code == 0, out(r)
    assert "12 conversations inspected" in out(r)
    assert results(svc.uows) == expected
    r = run(env, "qa", "run", *WINDOW, "--rule", "risky_promise")
    assert r.exit_code == 0, out(r)
    assert results(svc.uows) == expected
    with svc.uows(readonly=True) as uow:
        rules = {row.rule_key for row in uow.session.query(QaRun)}
    assert rules == {None, "risky_promise"}


def test_resume_continues_the_unfinished_run(shop):
    env, svc = shop
    run_id = batch.start_run(svc.uows, T0 - timedelta(days=1), T0 + timedelta(days=1))
    ids = next(batch.chunks(svc.uows, run_id, size=5))
    batch.inspect_chunk(svc.uows, svc.qa, run_id, ids)  # then the process "died"
    r = run(env, "qa", "run", "--resume")
    assert r.exit_code == 0, out(r)
    assert f"resuming run {run_id}" in out(r)
    assert "7 conversations inspected" in out(r) and "(12/12 done)" in out(r)
    assert counts(svc.uows)[0] == 12
    r = run(env, "qa", "run", "--resume")
    assert r.exit_code == 1
    assert "no unfinished run to resume" in out(r)


@pytest.mark.parametrize(("args", "message"), [
    (("--since", "30x"), "--since: "),
    (("--since", "0d"), "--since: "),
    (("--since", "abc"), "invalid duration 'abc'"),
    (("--since", "2000000d"), "--since: "),
    (("--until", "yesterday"), "--until: "),
    (("--workers", "0"), "--workers: "),
    (("--workers", "99"), "must be between 1 and 32"),
    (("--workspace", "nope"), "--workspace: "),
    (("--rule", " "), "--rule: "),
])
def test_bad_options_are_named(shop, args, message):
    env, svc = shop
    r = run(env, "qa", "run", *args)
    assert r.exit_code == 1, out(r)
    assert message in out(r)
    assert "Traceback" not in out(r)
    assert counts(svc.uows) == (0, 0)


def test_parsers():
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12H") == timedelta(hours=12)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration("90m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match=r"--since: .*too long"):
        parse_duration("99999999999999d")
    assert parse_instant("2026-11-11").tzinfo is not None
    assert parse_instant("2026-11-11T10:00:00+08:00") == T0
