"""CLI round-trips: campaign, agent, team and report commands against a real PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest

from orchestrator.cli import main
from orchestrator.ledger.agents import hash_token
from tests.support import ledger_seed

pytestmark = pytest.mark.timeout(30)
# One shared, emptied-per-test database instead of one database per test (faster).
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_campaign_create_update_lifecycle_and_list(cli, database_url: str) -> None:
    assert cli("team", "create", "Sales")[0] == 0
    status, out, _ = cli("campaign", "create", "Spring Sale", "--mode", "predictive", "--abandon-cap", "2.5%",
                         "--window", "10:00-20:00", "--days", "mon-sat", "--caller-id", "+14155550100",
                         "--max-attempts", "6", "--amd", "hangup", "--team", "Sales", "--cadence", "busy=10m")
    assert status == 0 and "created campaign 'Spring Sale'" in out
    status, out, _ = cli("campaign", "show", "Spring Sale", "--json")
    shown = json.loads(out)
    assert shown["abandon_cap"] == 0.025 and shown["window_start"] == "10:00" and shown["window_end"] == "20:00"
    assert shown["window_days"] == [1, 2, 3, 4, 5, 6] and shown["max_attempts_per_target"] == 6
    assert shown["amd_policy"] == "hangup" and shown["teams"] == ["Sales"] and shown["cadence"] == {"busy": 600}
    assert shown["status"] == "draft"

    status, out, _ = cli("campaign", "update", "Spring Sale", "--max-calls", "40", "--set", "recording=true",
                         "--set", "preview_timeout_s=90")
    assert status == 0 and "max_concurrent_calls" in out
    for action, expect in (("start", "running"), ("pause", "paused"), ("start", "running"), ("stop", "stopped")):
        status, out, _ = cli("campaign", action, "Spring Sale")
        assert status == 0 and out.strip() == f"campaign 'Spring Sale' is {expect}"
    status, _, err = cli("campaign", "pause", "Spring Sale")
    assert status == 2 and "cannot pause campaign 'Spring Sale': it is stopped" in err

    status, out, _ = cli("campaign", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "Spring Sale" and listed["max_concurrent_calls"] == 40 and listed["recording"] is True
    assert listed["preview_timeout_s"] == 90
    status, out, _ = cli("campaign", "list")
    assert "Spring Sale" in out and "stopped" in out and "2.5%" in out
    with psycopg.connect(database_url) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
        actors = {r[0] for r in conn.execute("SELECT actor FROM audit_log")}
    assert actions.count("campaign.start") == 2 and "campaign.stop" in actions
    assert all(a.startswith("cli") for a in actors)


BAD_CREATES = (
    (["--mode", "power", "--abandon-cap", "30%"], "abandon_cap: must be between 0 and 0.2"),
    (["--mode", "power", "--window", "21:00-09:00"], "window: start must be before end"),
    (["--mode", "power", "--caller-id", "555-0100"], "caller_id: must be an E.164 number"),
    (["--mode", "power", "--set", "colour=red"], "colour: is not a campaign setting"),
    (["--mode", "power", "--team", "Nobody"], "team: no team 'Nobody'"),
    (["--mode", "power", "--set", "recording=maybe"], "recording: expected true or false"),
)


def test_campaign_errors_name_the_field(cli) -> None:
    for argv, message in BAD_CREATES:
        status, _, err = cli("campaign", "create", "Bad", *argv)
        assert status == 2 and message in err, (argv, err)
    with pytest.raises(SystemExit) as exc:  # argparse's own choices
        cli("campaign", "create", "Bad", "--mode", "turbo")
    assert exc.value.code == 2
    assert cli("campaign", "list")[1].strip() == "no campaigns"


def test_wrapup_codes_from_the_cli(cli) -> None:
    cli("campaign", "create", "Codes", "--mode", "preview")
    status, out, _ = cli("campaign", "add-code", "Codes", "Call back", "--class", "retry", "--retry-after", "2h")
    assert status == 0 and "added wrap-up code 'Call back' (retry" in out
    status, out, _ = cli("campaign", "codes", "Codes", "--json")
    codes = {c["label"]: c for c in json.loads(out)}
    assert codes["Call back"]["retry_after_s"] == 7200 and not codes["Call back"]["system"]
    assert codes["Sale"]["system"]
    status, _, err = cli("campaign", "add-code", "Codes", "Sale", "--class", "final_success")
    assert status == 2 and "label: 'Sale' is a system code already" in err


def test_agent_create_prints_token_once_and_rotation(cli, database_url: str) -> None:
    cli("campaign", "create", "Work", "--mode", "progressive")
    assert cli("team", "create", "Floor", "--campaign", "Work")[0] == 0
    status, out, _ = cli("agent", "create", "ann", "--name", "Ann Agent", "--role", "supervisor",
                         "--endpoint", "PJSIP/1001", "--team", "Floor")
    assert status == 0
    token = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token: "))
    with psycopg.connect(database_url) as conn:
        (stored,) = conn.execute("SELECT token_hash FROM agents WHERE username = 'ann'").fetchone()  # type: ignore[misc]
    assert stored == hash_token(token)
    status, out, _ = cli("agent", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["role"] == "supervisor" and listed["teams"] == ["Floor"] and token not in out
    assert "token_hash" not in listed
    status, out, _ = cli("agent", "token", "ann")
    new = out.splitlines()[0].split(": ", 1)[1]
    assert status == 0 and new != token
    with psycopg.connect(database_url) as conn:
        (stored,) = conn.execute("SELECT token_hash FROM agents WHERE username = 'ann'").fetchone()  # type: ignore[misc]
    assert stored == hash_token(new)
    status, out, _ = cli("team", "list", "--json")
    assert json.loads(out) == [{"id": 1, "name": "Floor", "agents": ["ann"], "campaigns": ["Work"]}]
    status, _, err = cli("agent", "create", "Bad Name", "--name", "X")
    assert status == 2 and err.startswith("orchestrator: username: ")
    status, _, err = cli("agent", "create", "bob", "--name", "Bob", "--endpoint", "1002")
    assert status == 2 and "endpoint: must be an Asterisk endpoint" in err
    status, _, err = cli("agent", "token", "nobody")
    assert status == 2 and "no agent 'nobody'" in err


def test_report_campaign_text_json_and_csv(cli, database_url: str, tmp_path: Path) -> None:
    cli("campaign", "create", "Rep", "--mode", "power")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO contacts (campaign_id, external_id) SELECT id, 'X1' FROM campaigns")
        conn.execute("INSERT INTO targets (contact_id, campaign_id, position, description, e164)"
                     " SELECT id, campaign_id, 1, 'Home', '+447700900123' FROM contacts")
        conn.execute(
            "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164, mode, owner,"
            " state, outcome, created_at, answered_at, ended_at)"
            " SELECT gen_random_uuid(), t.campaign_id, t.contact_id, t.id, 1, t.e164, 'power', 'i', 'ended',"
            " 'abandoned', now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'"
            " FROM targets t")
    status, out, _ = cli("report", "campaign", "Rep", "--json")
    rep = json.loads(out)
    assert status == 0 and rep["outcomes"] == {"abandoned": 1} and rep["abandon_24h"]["rate"] == 1.0
    status, out, _ = cli("report", "campaign", "Rep")
    assert status == 0 and "abandon rate 24 h (UK): 100.00% (1/1 live answers" in out
    dest = tmp_path / "attempts.csv"
    status, out, _ = cli("report", "campaign", "Rep", "--csv", str(dest))
    assert status == 0 and out.strip() == f"wrote 1 attempts to {dest}"
    rows = list(csv.DictReader(dest.open()))
    assert rows[0]["external_id"] == "X1" and rows[0]["target"] == "Home" and rows[0]["outcome"] == "abandoned"
    status, out, _ = cli("report", "campaign", "Rep", "--csv", "-")
    assert out.splitlines()[0].startswith("attempt_id,campaign,")
    status, _, err = cli("report", "campaign", "Nope")
    assert status == 2 and "no campaign 'Nope'" in err
    status, _, err = cli("report", "campaign", "Rep", "--period", "forever")
    assert status == 2 and err.startswith("orchestrator: period: ")
