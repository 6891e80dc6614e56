"""`orchestrator campaign variables NAME [FILE]` against a real PostgreSQL: a JSON or
YAML list replaces the campaign's call-data variables whole; a bad file changes nothing
and its error names the line (and the key) at fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli import main
from tests.support import ledger_seed

pytestmark = pytest.mark.timeout(30)
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database

YAML = """\
# the sales desk
- name: plan
  label: Plan
- name: note
  label: Agent note
  editable: true
- name: card
  label: Card number
  editable: yes
  secure: true
"""


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    assert run("campaign", "create", "Desk", "--mode", "progressive")[0] == 0
    return run


def _shown(cli) -> list[dict[str, object]]:
    status, out, err = cli("campaign", "variables", "Desk", "--json")
    assert status == 0, err
    return json.loads(out)


def test_a_yaml_list_replaces_the_variables_and_shows_them(cli, tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text(YAML)
    status, out, err = cli("campaign", "variables", "Desk", str(path))
    assert status == 0, err
    assert out.strip() == "campaign 'Desk': 3 call-data variable(s): plan, note, card"
    assert _shown(cli) == [
        {"name": "plan", "label": "Plan", "editable": False, "secure": False, "position": 0},
        {"name": "note", "label": "Agent note", "editable": True, "secure": False, "position": 1},
        {"name": "card", "label": "Card number", "editable": True, "secure": True, "position": 2}]
    status, out, _ = cli("campaign", "variables", "Desk")
    assert status == 0
    assert out.splitlines() == ["plan  Plan", "note  Agent note  (editable)",
                                "card  Card number  (editable, secure)"]


def test_a_json_list_with_a_bad_entry_changes_nothing_and_names_its_line(
        cli, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"name": "plan"}]))
    assert cli("campaign", "variables", "Desk", str(good))[0] == 0
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"name": "note", "editable": true},\n\n  {"name": "Card",\n'
                   '   "secure": true}\n]\n')
    status, out, err = cli("campaign", "variables", "Desk", str(bad))
    assert status == 2 and out == ""
    assert f"{bad}: line 4 (variable 2): name: 1 to 32 of a-z" in err, err
    assert "nothing was changed" in err
    assert [v["name"] for v in _shown(cli)] == ["plan"]


@pytest.mark.parametrize(("name", "text", "words"), [
    ("key.yaml", "- name: plan\n- name: note\n  editable: maybe\n",
     "line 3 (variable 2): editable: true or false"),
    ("dup.yml", "- name: plan\n- name: plan\n", "line 2 (variable 2): name: 'plan' is defined twice"),
    ("extra.yaml", "- name: plan\n  colour: red\n", "line 2 (variable 1): colour: unknown key"),
    ("syntax.json", '[\n  {"name": "plan"},\n  {"name": "note",}\n]', "line 3 column 19: not valid JSON"),
    ("syntax.yaml", "- name: plan\n- name: [note\n", "not valid YAML"),
    ("object.json", '{"name": "plan"}', "line 1: expected a list of variables"),
    ("object.yaml", "name: plan\n", "line 1: expected a list of variables"),
])
def test_a_bad_file_is_refused_naming_where(cli, tmp_path: Path, name: str, text: str,
                                            words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    status, _, err = cli("campaign", "variables", "Desk", str(path))
    assert status == 2 and words in err, err
    assert _shown(cli) == []


def test_an_empty_list_removes_every_variable_and_a_missing_campaign_is_named(
        cli, tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text(YAML)
    assert cli("campaign", "variables", "Desk", str(path))[0] == 0
    empty = tmp_path / "none.json"
    empty.write_text("[]")
    status, out, _ = cli("campaign", "variables", "Desk", str(empty))
    assert status == 0 and out.strip() == "campaign 'Desk': 0 call-data variable(s)"
    assert cli("campaign", "variables", "Desk")[1].strip() == "campaign 'Desk' has no call-data variables"
    status, _, err = cli("campaign", "variables", "Nope", str(path))
    assert status == 2 and "no campaign 'Nope'" in err
