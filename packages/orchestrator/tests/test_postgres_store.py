"""The PostgreSQL workflow store on a real PostgreSQL, through the Postgres node (loaded
from its entry point, never imported): round trips, upserts, quoting, a crash and a resume
from a new runtime and a new store instance, and ``onex-infra --store postgres``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from tests.orchestrator_fakes import Journal, ScriptedNode, until

from omnibase_infra.errors import InfraConfigurationError, InfraError, InfraNotFoundError
from omnibase_infra.models.postgres import ModelPostgresFetchRequest, ModelPostgresPoolConfig
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    EnumStepStatus,
    ModelRunRecord,
    ModelStepRecord,
    NodeRegistry,
    SqliteWorkflowStore,
    WorkflowRuntime,
    WorkflowStore,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import main, open_store
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    POSTGRES_NODE,
    PostgresWorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import ModelWorkflow
from omnibase_infra_testing.services.postgres import PostgresService

DSN_ENV = "OMNIBASE_INFRA_POSTGRES_DSN"


@pytest.fixture(scope="session")
def database_dsn(postgres_service: PostgresService) -> Iterator[str]:
    with postgres_service.scratch_database("orchstore") as dsn:
        yield dsn


@pytest.fixture
def schema() -> str:
    return f"runs_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def env_dsn(database_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(DSN_ENV, database_dsn)
    return database_dsn


@pytest.fixture
async def store(env_dsn: str, schema: str) -> AsyncIterator[PostgresWorkflowStore]:
    opened = PostgresWorkflowStore(schema=schema)
    yield opened
    await opened.close()


def _run(run_id: str, created_at: datetime, **extra: object) -> ModelRunRecord:
    return ModelRunRecord.model_validate(
        {
            "run_id": run_id,
            "workflow_name": "wf",
            "workflow": {"name": "wf", "steps": [{"id": "a"}]},
            "inputs": {"name": "svc", "pw": {"$secret": "**********"}},
            "correlation_id": str(uuid.uuid4()),
            "created_at": created_at,
            **extra,
        }
    )


async def test_runs_steps_and_snapshots_round_trip_and_upsert(
    store: PostgresWorkflowStore,
) -> None:
    assert isinstance(store, WorkflowStore)
    now = datetime.now(UTC)
    first = _run("r1", now - timedelta(minutes=2), notes=["ünïcode ✓", "quote ' and $1"])
    await store.save_run(first)
    await store.save_run(_run("r2", now))
    assert await store.get_run("r1") == first
    done = first.model_copy(update={"status": EnumRunStatus.COMPLETED, "error": None})
    await store.save_run(done)  # replaces the old record
    assert (await store.get_run("r1")).status is EnumRunStatus.COMPLETED
    assert [r.run_id for r in await store.list_runs()] == ["r2", "r1"]
    assert [r.run_id for r in await store.list_runs(limit=1)] == ["r2"]
    assert await store.list_runs(limit=0) == []
    with pytest.raises(InfraNotFoundError, match="ghost"):
        await store.get_run("ghost")

    step = ModelStepRecord(run_id="r1", step_id="a", status=EnumStepStatus.RUNNING, attempts=1)
    await store.save_step(step)
    await store.save_step(ModelStepRecord(run_id="r2", step_id="a"))
    finished = step.model_copy(
        update={"status": EnumStepStatus.COMPLETED, "output": {"v": [1, 2.5, None]}, "sequence": 0}
    )
    await store.save_step(finished)
    assert await store.get_steps("r1") == {"a": finished}
    assert await store.get_steps("nobody") == {}

    assert await store.get_resource_snapshot("res") is None
    await store.save_resource_snapshot("res", {"state": "active", "n": 1})
    await store.save_resource_snapshot("res", {"state": "decommissioned", "n": 2})
    assert await store.get_resource_snapshot("res") == {"state": "decommissioned", "n": 2}


async def test_a_batch_is_one_transaction(store: PostgresWorkflowStore) -> None:
    run = _run("b1", datetime.now(UTC))
    steps = [ModelStepRecord(run_id="b1", step_id=sid) for sid in ("a", "b")]
    await store.save_batch(steps, run=run)
    assert await store.get_run("b1") == run
    assert set(await store.get_steps("b1")) == {"a", "b"}
    await store.save_batch([steps[0].model_copy(update={"status": EnumStepStatus.RUNNING})])
    await store.save_batch([])
    assert (await store.get_steps("b1"))["a"].status is EnumStepStatus.RUNNING
    # A record PostgreSQL refuses (jsonb holds no NUL) fails its whole batch.
    bad = ModelStepRecord(run_id="b1", step_id="c", output={"text": "nul \u0000"})
    good = ModelStepRecord(run_id="b1", step_id="d")
    with pytest.raises(InfraError):
        await store.save_batch([good, bad])
    assert set(await store.get_steps("b1")) == {"a", "b"}


async def test_a_given_node_instance_and_a_schema_name_that_needs_quoting(
    database_dsn: str,
) -> None:
    node_class = NodeRegistry().node_class(POSTGRES_NODE)
    node = node_class(config=ModelPostgresPoolConfig(dsn=SecretStr(database_dsn)))
    schema = f'Odd "Schema"; DROP {uuid.uuid4().hex[:6]}'
    try:
        store = PostgresWorkflowStore(node, schema=schema)
        await store.save_run(_run("q1", datetime.now(UTC)))
        await store.close()  # the caller's node stays open
        again = PostgresWorkflowStore(node, schema=schema)
        assert (await again.get_run("q1")).run_id == "q1"
        tables = await node.process(
            ModelPostgresFetchRequest(
                sql="SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = $1 ORDER BY table_name",
                params=(schema,),
            )
        )
        assert [row["table_name"] for row in tables.rows] == [
            "workflow_resources",
            "workflow_runs",
            "workflow_steps",
        ]
        await again.close()
    finally:
        await node.close()


async def test_stores_on_one_schema_create_it_concurrently(env_dsn: str, schema: str) -> None:
    stores = [PostgresWorkflowStore(schema=schema) for _ in range(3)]
    try:
        await asyncio.gather(
            *(s.save_run(_run(f"c{i}", datetime.now(UTC))) for i, s in enumerate(stores))
        )
        assert len(await stores[0].list_runs()) == 3
    finally:
        for s in stores:
            await s.close()


async def test_something_that_is_not_a_postgres_node_is_refused() -> None:
    with pytest.raises(InfraConfigurationError, match="not a Postgres node"):
        PostgresWorkflowStore(object())


async def test_without_a_dsn_the_node_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, schema: str
) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    store = PostgresWorkflowStore(schema=schema)
    with pytest.raises(InfraConfigurationError):
        await store.get_run("r1")
    await store.close()


def _workflow() -> ModelWorkflow:
    return parse_workflow(
        {
            "workflow": {"name": "pg"},
            "inputs": {},
            "steps": [
                {
                    "id": "a",
                    "node": "node_a_effect",
                    "operation": "create",
                    "inputs": {"value": "A"},
                },
                {
                    "id": "b",
                    "node": "node_b_effect",
                    "operation": "create",
                    "depends_on": ["a"],
                    "inputs": {"value": "${steps.a.output.value}"},
                },
                {"id": "c", "node": "node_c_effect", "operation": "create", "depends_on": ["b"]},
            ],
        },
        source="pg.yaml",
    )


async def test_a_crashed_run_resumes_from_a_new_runtime_and_a_new_store(
    nodes: dict[str, ScriptedNode], journal: Journal, env_dsn: str, schema: str
) -> None:
    nodes["node_b_effect"].script["create"] = [30.0]
    first = PostgresWorkflowStore(schema=schema)
    runtime = WorkflowRuntime(NodeRegistry(nodes, entry_points=False), first)
    task = asyncio.create_task(runtime.run(_workflow(), run_id="crashy"))
    await until(lambda: len(journal.calls) >= 2)
    task.cancel()  # the process "dies" while b runs
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.close()

    second = PostgresWorkflowStore(schema=schema)
    try:
        stored = await second.get_steps("crashy")
        assert stored["a"].status is EnumStepStatus.COMPLETED
        assert stored["b"].status is EnumStepStatus.RUNNING
        journal.calls.clear()
        fresh = WorkflowRuntime(NodeRegistry(nodes, entry_points=False), second)
        result = await fresh.resume("crashy")
        assert result.status is EnumRunStatus.COMPLETED
        assert journal.ops() == ["node_b_effect.create", "node_c_effect.create"]
        assert journal.calls[0].request.value == "A"  # a's stored output
        assert (await second.get_run("crashy")).status is EnumRunStatus.COMPLETED
    finally:
        await second.close()


def test_open_store_chooses_postgres_or_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMNIBASE_INFRA_ORCHESTRATOR_STORE", raising=False)
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_STORE_SCHEMA", "custom")
    chosen = open_store("postgres")
    assert isinstance(chosen, PostgresWorkflowStore)
    assert chosen.schema == "custom"
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_STORE", "postgres")
    assert isinstance(open_store(), PostgresWorkflowStore)
    sqlite = open_store(str(tmp_path / "runs.sqlite3"))
    assert isinstance(sqlite, SqliteWorkflowStore)
    asyncio.run(sqlite.close())


WORKFLOW = """
workflow: {name: cli_pg}
steps:
  - {id: a, node: node_a_effect, operation: create, inputs: {value: one}}
"""


def test_cli_deploy_and_status_on_the_postgres_store(
    env_dsn: str,
    schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_STORE_SCHEMA", schema)
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW)
    node = "node_a_effect=tests.orchestrator_fakes:cli_node"
    deploy = ["deploy", "--workflow", str(wf), "--store", "postgres", "--json"]
    assert main([*deploy, "--run-id", "p1", "--node", node]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
    assert main(["status", "--store", "postgres", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["p1"]
