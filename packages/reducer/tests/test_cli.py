"""The command line: validate, replay, render; and the README's diagram."""

from __future__ import annotations

import asyncio
import io
import json
import runpy
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from omnibase_infra.models.fsm import ModelFSMEvent, ModelFSMResult, ModelFSMSnapshot
from omnibase_infra.nodes.infra_reducer.v1_0_0 import InfraReducer, load_definition, render_mermaid
from omnibase_infra.nodes.infra_reducer.v1_0_0.cli import main
from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import CONTRACTS_PACKAGE, FSM_RESOURCE

type EventFactory = Callable[..., ModelFSMEvent]

README = Path(__file__).resolve().parents[1] / "README.md"
SHIPPED = resources.files(CONTRACTS_PACKAGE).joinpath(FSM_RESOURCE).read_text(encoding="utf-8")


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_validate_the_shipped_contract() -> None:
    status, out = _run("validate")
    assert status == 0
    assert out.startswith("ok: infra_service_lifecycle 1.0.0 (")
    assert "12 states, 22 transitions, 14 triggers, 8 context keys" in out


def test_validate_a_file(tmp_path: Path) -> None:
    good = tmp_path / "fsm.yaml"
    good.write_text(SHIPPED, encoding="utf-8")
    assert _run("validate", str(good))[0] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            SHIPPED.replace("consecutive_failures greater_than 2", "consecutive_failures >= 3"),
            "unknown operator '>='",
        ),
        (SHIPPED.replace("trigger: notified", "triger: notified"), "unknown key"),
        ("states: [unclosed", "YAML error"),
    ],
)
def test_validate_reports_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(text, encoding="utf-8")
    assert _run("validate", str(broken)) == (1, "")
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert str(broken) in err


def test_validate_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _run("validate", str(tmp_path / "nope.yaml"))[0] == 1
    assert "cannot read (FileNotFoundError" in capsys.readouterr().err


def test_render_prints_the_diagram(tmp_path: Path) -> None:
    status, out = _run("render")
    assert status == 0
    assert out == render_mermaid(load_definition())
    assert out.startswith("stateDiagram-v2\n    [*] --> unprovisioned\n")
    assert "    decommissioned --> [*]\n" in out
    assert "    failed --> provisioning : retry [requested_by min_length 1]\n" in out
    assert "    recovering : exit / node_consul_adapter_effect.disable_maintenance\n" in out
    # '*' is drawn from every state it really leaves, never from the terminal one
    assert out.count("--> decommissioning : decommission") == 11
    target = tmp_path / "fsm.mmd"
    assert _run("render", "--output", str(target)) == (0, "")
    assert target.read_text(encoding="utf-8") == out


def test_readme_shows_the_rendered_fsm() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- fsm-diagram:start -->\n```mermaid\n") + len(
        "<!-- fsm-diagram:start -->\n```mermaid\n"
    )
    end = text.index("```\n<!-- fsm-diagram:end -->")
    assert text[start:end] == _run("render")[1]


def _log(events: list[ModelFSMEvent]) -> str:
    return "".join(event.model_dump_json() + "\n\n" for event in events)


def _lifecycle(make_event: EventFactory) -> list[ModelFSMEvent]:
    return [
        make_event("provision", service_name="payments", database_name="pay"),
        make_event("credentials_issued"),
        make_event("step_failed", failed_step="prepare_database"),
        make_event("retry", requested_by="alice"),
    ]


def test_replay_prints_the_final_snapshot(
    tmp_path: Path, make_event: EventFactory, reducer: InfraReducer
) -> None:
    events = _lifecycle(make_event)
    log = tmp_path / "events.jsonl"
    log.write_text(_log(events), encoding="utf-8")
    status, out = _run("replay", str(log))
    assert status == 0
    assert ModelFSMSnapshot.model_validate_json(out) == asyncio.run(reducer.replay(events))
    assert json.loads(out)["state"] == "provisioning"


def test_replay_results_from_stdin_and_a_snapshot(
    tmp_path: Path, make_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _lifecycle(make_event)
    start = tmp_path / "start.json"
    start.write_text(InfraReducer().initial_snapshot("payments/prod").model_dump_json())
    monkeypatch.setattr(sys, "stdin", io.StringIO(_log(events)))
    status, out = _run("replay", "-", "--results", "--snapshot", str(start))
    assert status == 0
    results = [ModelFSMResult.model_validate_json(line) for line in out.splitlines()]
    assert [r.snapshot.state for r in results] == [
        "provisioning",
        "preparing_database",
        "failed",
        "provisioning",
    ]


def test_replay_names_the_bad_line(
    tmp_path: Path, make_event: EventFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(
        _log(_lifecycle(make_event)[:1])
        + '{"trigger": "x", "data": {"note": "password=hunter2"}}\n'
    )
    assert _run("replay", str(log))[0] == 1
    err = capsys.readouterr().err
    assert f"{log}:3: not an FSM event" in err
    assert "hunter2" not in err


def test_replay_reports_invalid_transitions_and_snapshots(
    tmp_path: Path, make_event: EventFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(_log([make_event("notified")]))
    assert _run("replay", str(log))[0] == 1
    assert "'notified' is not valid in state 'unprovisioned'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert _run("replay", str(log), "--snapshot", str(bad))[0] == 1
    assert f"{bad}: not an FSM snapshot" in capsys.readouterr().err


def test_python_dash_m(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["infra_reducer", "validate"])
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("omnibase_infra.nodes.infra_reducer.v1_0_0", run_name="__main__")
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("ok: infra_service_lifecycle")
