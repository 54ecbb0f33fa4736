"""The runtime with scripted fake nodes: order, concurrency, timeouts, retries,
conditions, saga compensation, propagation, events, secrets and resume."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import SecretStr
from tests.orchestrator_fakes import Journal, ScriptedNode, until

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraConnectionError,
    InfraNotFoundError,
    InfraValidationError,
)
from omnibase_infra.events import InMemoryEventBus
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    EnumStepStatus,
    InMemoryWorkflowStore,
    ModelWorkflowEvent,
    NodeRegistry,
    WorkflowRuntime,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import ModelWorkflow


def transient(message: str = "refused") -> InfraConnectionError:
    return InfraConnectionError(message, transport=EnumTransport.HTTP, operation="create")


def permanent(message: str = "bad request") -> InfraValidationError:
    return InfraValidationError(message, transport=EnumTransport.HTTP, operation="create")


def step(
    sid: str, node: str = "node_a_effect", operation: str = "create", **extra: Any
) -> dict[str, Any]:
    return {"id": sid, "node": node, "operation": operation, **extra}


def workflow(
    *steps: dict[str, Any], inputs: dict[str, Any] | None = None, **extra: Any
) -> ModelWorkflow:
    return parse_workflow(
        {
            "workflow": {"name": "test", **extra.pop("info", {})},
            "inputs": inputs or {},
            "steps": list(steps),
            **extra,
        },
        source="test.yaml",
    )


def runtime(nodes: dict[str, ScriptedNode], **kwargs: Any) -> WorkflowRuntime:
    return WorkflowRuntime(NodeRegistry(nodes, entry_points=False), **kwargs)


async def test_steps_run_in_dependency_order_and_pass_outputs(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    wf = workflow(
        step("first", inputs={"value": "${input.name}"}),
        step(
            "second",
            "node_b_effect",
            depends_on=["first"],
            inputs={"value": "got ${steps.first.output.value}"},
        ),
        step(
            "third",
            "node_c_effect",
            depends_on=["second"],
            inputs={"value": "${steps.second.output}"},
        ),
        inputs={"name": {}},
    )
    result = await runtime(nodes).run(wf, {"name": "svc"})
    assert result.status is EnumRunStatus.COMPLETED
    assert journal.ops() == ["node_a_effect.create", "node_b_effect.create", "node_c_effect.create"]
    assert journal.calls[1].request.value == "got svc"
    assert journal.calls[2].request.value["value"] == "got svc"
    assert [result.steps[s].sequence for s in ("first", "second", "third")] == [1, 2, 3]
    assert all(result.steps[s].attempts == 1 for s in result.order)


async def test_independent_steps_run_concurrently(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    for node in nodes.values():
        node.script["create"] = [0.2]
    wf = workflow(step("a"), step("b", "node_b_effect"), step("c", "node_c_effect"))
    result = await runtime(nodes).run(wf)
    assert result.status is EnumRunStatus.COMPLETED
    assert journal.max_active == 3  # all three were in flight at once


async def test_a_step_attempt_is_bounded_by_its_timeout(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_a_effect"].script["create"] = [30.0]
    wf = workflow(step("slow", timeout_ms=100))
    started = time.perf_counter()
    result = await runtime(nodes).run(wf)
    assert time.perf_counter() - started < 10  # cut at 0.1 s, not after the node's 30 s
    assert result.status is EnumRunStatus.FAILED
    error = result.steps["slow"].error
    assert error is not None
    assert error["error_type"] == "InfraTimeoutError"
    assert result.run.failed_step == "slow"


async def test_transient_errors_are_retried_per_policy(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_a_effect"].script["create"] = [transient(), transient()]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    wf = workflow(step("flaky", retry={"max_attempts": 3, "base_delay_seconds": 0.01}))
    result = await runtime(nodes, sleep=sleep).run(wf)
    assert result.status is EnumRunStatus.COMPLETED
    assert result.steps["flaky"].attempts == 3
    assert len(journal.calls) == 3
    assert len(slept) == 2


async def test_the_step_timeout_is_the_calls_overall_deadline(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    """The runner's one semantics: retries and their backoff fit in the step's timeout_ms;
    an attempt cut by the deadline is not retried (the budget is spent)."""
    nodes["node_a_effect"].script["create"] = [1.0]
    wf = workflow(step("s", timeout_ms=50, retry={"max_attempts": 3, "base_delay_seconds": 0}))
    result = await runtime(nodes).run(wf)
    assert result.status is EnumRunStatus.FAILED
    assert result.steps["s"].attempts == 1
    assert result.steps["s"].error is not None
    assert result.steps["s"].error["code"] == "ONEX_INFRA_003_TIMEOUT"

    nodes["node_a_effect"].script["create"] = [transient(), 1.0]
    wf = workflow(step("s", timeout_ms=300, retry={"max_attempts": 3, "base_delay_seconds": 0}))
    result = await runtime(nodes).run(wf)
    assert result.status is EnumRunStatus.FAILED
    assert result.steps["s"].attempts == 2  # the second attempt ran out of the deadline
    assert result.steps["s"].error is not None
    assert result.steps["s"].error["code"] == "ONEX_INFRA_016_DEADLINE_EXCEEDED"


async def test_retries_stop_at_max_attempts(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_a_effect"].script["create"] = [transient(), transient(), transient()]
    wf = workflow(step("s", retry={"max_attempts": 2, "base_delay_seconds": 0}))
    result = await runtime(nodes).run(wf)
    assert result.status is EnumRunStatus.FAILED
    assert result.steps["s"].attempts == 2
    assert len(journal.calls) == 2


async def test_permanent_errors_are_not_retried(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_a_effect"].script["create"] = [permanent()]
    wf = workflow(step("s", retry={"max_attempts": 5, "base_delay_seconds": 0}))
    result = await runtime(nodes).run(wf)
    assert result.status is EnumRunStatus.FAILED
    assert len(journal.calls) == 1
    error = result.run.error
    assert error is not None
    assert error["code"] == "ONEX_INFRA_015_VALIDATION_ERROR"


def saga() -> ModelWorkflow:
    comp = {"node": "node_a_effect", "operation": "delete"}
    return workflow(
        step(
            "one",
            inputs={"value": 1},
            compensation={**comp, "inputs": {"value": "${steps.one.output.value}"}},
        ),
        step(
            "two",
            depends_on=["one"],
            inputs={"value": 2},
            compensation={**comp, "inputs": {"value": "${steps.two.output.value}"}},
        ),
        step("plain", "node_c_effect", depends_on=["one"]),
        step(
            "three",
            "node_b_effect",
            depends_on=["two", "plain"],
            inputs={"value": 3},
            compensation={**comp, "inputs": {"value": 3}},
        ),
    )


async def test_failure_compensates_completed_steps_in_reverse_order(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_b_effect"].script["create"] = [permanent()]
    result = await runtime(nodes).run(saga())
    assert result.status is EnumRunStatus.FAILED
    deletes = [c.request.value for c in journal.calls if c.operation == "delete"]
    assert deletes == [2, 1]  # "three" failed: nothing to undo; "plain" has no compensation
    assert result.steps["one"].status is EnumStepStatus.COMPENSATED
    assert result.steps["two"].status is EnumStepStatus.COMPENSATED
    assert result.steps["plain"].status is EnumStepStatus.COMPLETED
    assert result.steps["three"].status is EnumStepStatus.FAILED
    compensation_keys = [
        c.request.metadata["idempotency-key"] for c in journal.calls if c.operation == "delete"
    ]
    assert compensation_keys == [
        f"{result.run_id}:two:compensate",
        f"{result.run_id}:one:compensate",
    ]


async def test_a_failed_compensation_does_not_stop_the_others(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_b_effect"].script["create"] = [permanent()]
    nodes["node_a_effect"].script["delete"] = [permanent("cannot delete")]
    result = await runtime(nodes).run(saga())
    assert result.status is EnumRunStatus.COMPENSATION_FAILED
    assert result.steps["two"].status is EnumStepStatus.COMPENSATION_FAILED
    assert result.steps["one"].status is EnumStepStatus.COMPENSATED
    error = result.steps["two"].compensation_error
    assert error is not None
    assert "cannot delete" in str(error["message"])


async def test_running_siblings_finish_before_compensation_and_are_compensated(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_a_effect"].script["create"] = [0.2]
    nodes["node_b_effect"].script["create"] = [permanent()]
    comp = {"node": "node_c_effect", "operation": "delete", "inputs": {"value": "slow"}}
    wf = workflow(
        step("slow", compensation=comp),
        step("bad", "node_b_effect"),
        step("never", depends_on=["bad"]),
    )
    result = await runtime(nodes).run(wf)
    assert result.status is EnumRunStatus.FAILED
    assert result.steps["slow"].status is EnumStepStatus.COMPENSATED
    assert result.steps["never"].status is EnumStepStatus.PENDING
    assert journal.ops()[-1] == "node_c_effect.delete"


async def test_conditions_skip_steps_and_skipped_outputs_are_none(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    wf = workflow(
        step("maybe", condition={"equals": ["${input.mode}", "full"]}),
        step(
            "other",
            condition={
                "all": [
                    {"exists": "${input.mode}"},
                    {"not": {"in": ["${input.mode}", ["x", "y"]]}},
                    {
                        "any": [
                            {"truthy": "${input.flag}"},
                            {"not_equals": ["${input.mode}", "lite"]},
                        ]
                    },
                    {"not_in": ["${input.mode}", ["full"]]},
                ]
            },
        ),
        step(
            "after",
            "node_b_effect",
            depends_on=["maybe"],
            inputs={"value": "${steps.maybe.output.value}"},
        ),
        inputs={"mode": {}, "flag": {"required": False, "default": True}},
    )
    result = await runtime(nodes).run(wf, {"mode": "lite"})
    assert result.status is EnumRunStatus.COMPLETED
    assert result.steps["maybe"].status is EnumStepStatus.SKIPPED
    assert result.steps["other"].status is EnumStepStatus.COMPLETED
    assert journal.calls[-1].request.value is None


async def test_correlation_trace_and_idempotency_key_reach_every_call(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    correlation = uuid4()
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    wf = workflow(step("a"), step("b", "node_b_effect", depends_on=["a"]))
    result = await runtime(nodes).run(
        wf, run_id="run-1", correlation_id=correlation, traceparent=parent
    )
    assert result.run.correlation_id == str(correlation)
    for call, sid in zip(journal.calls, ("a", "b"), strict=True):
        assert call.request.correlation_id == correlation
        assert call.request.metadata["idempotency-key"] == f"run-1:{sid}"
        assert call.request.metadata["x-correlation-id"] == str(correlation)
        traceparent = call.request.metadata["traceparent"]
        assert traceparent.startswith("00-0af7651916cd43dd8448eb211c80319c-")
        assert call.request.correlation.parent_span_id == "b7ad6b7169203331"
    spans = {c.request.correlation.span_id for c in journal.calls}
    assert len(spans) == 2


async def test_events_are_published_on_the_bus_without_secrets(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    bus = InMemoryEventBus()
    seen: list[ModelWorkflowEvent] = []
    wf = workflow(
        step("issue", operation="issue", inputs={"secret": "${input.password}"}),
        step(
            "use",
            "node_b_effect",
            operation="use",
            depends_on=["issue"],
            inputs={"secret": "${steps.issue.output.token}"},
        ),
        inputs={"password": {"secret": True}},
    )
    rt = runtime(nodes, event_bus=bus, listeners=[seen.append])
    result = await rt.run(wf, {"password": "hunter2-very-secret"})
    assert result.status is EnumRunStatus.COMPLETED
    # the secret reached the nodes as SecretStr ...
    assert journal.calls[0].request.secret is not None
    assert journal.calls[0].request.secret.get_secret_value() == "hunter2-very-secret"
    assert journal.calls[1].request.secret is not None
    assert journal.calls[1].request.secret.get_secret_value() == "tok-node_a_effect-issue"
    # ... and nowhere else
    history = await bus.get_event_history()
    kinds = [m.topic.removeprefix("onex.infra.workflow.") for m in history]
    assert kinds[0] == "workflow.started"
    assert kinds[-1] == "workflow.completed"
    assert kinds.count("step.completed") == 2
    dumped = " ".join(m.value.decode() for m in history) + json.dumps(
        result.to_json_dict(), default=str
    )
    dumped += " ".join(e.model_dump_json() for e in seen)
    assert "hunter2" not in dumped
    assert "tok-node_a_effect" not in dumped
    assert result.run.inputs["password"] == {"$secret": "**********"}
    assert result.steps["issue"].output["token"] == {"$secret": "**********"}


async def test_a_broken_listener_or_bus_does_not_break_the_run(
    nodes: dict[str, ScriptedNode],
) -> None:
    bus = InMemoryEventBus()
    await bus.close()

    def broken(event: ModelWorkflowEvent) -> None:
        raise RuntimeError("listener bug")

    result = await runtime(nodes, event_bus=bus, listeners=[broken]).run(workflow(step("a")))
    assert result.status is EnumRunStatus.COMPLETED


async def test_inputs_are_checked(nodes: dict[str, ScriptedNode]) -> None:
    wf = workflow(step("a"), inputs={"name": {"pattern": "^[a-z]+$"}, "opt": {"required": False}})
    rt = runtime(nodes)
    with pytest.raises(InfraValidationError, match=r"unknown \['bogus'\], missing \['name'\]"):
        await rt.run(wf, {"bogus": 1})
    with pytest.raises(InfraValidationError, match="does not match"):
        await rt.run(wf, {"name": "NOT-OK; DROP"})


async def test_unresolvable_binding_fails_the_step(nodes: dict[str, ScriptedNode]) -> None:
    wf = workflow(
        step("a"), step("b", depends_on=["a"], inputs={"value": "${steps.a.output.nope}"})
    )
    result = await runtime(nodes).run(wf)
    assert result.status is EnumRunStatus.FAILED
    assert "does not resolve" in str(result.steps["b"].error)


async def test_workflow_budget_cancels_running_steps(nodes: dict[str, ScriptedNode]) -> None:
    nodes["node_a_effect"].script["create"] = [30.0]
    wf = workflow(step("slow", timeout_ms=60_000), info={"timeout_ms": 1000})
    started = time.perf_counter()
    result = await runtime(nodes).run(wf)
    assert time.perf_counter() - started < 10  # cut by the 1 s budget, not after 30 s
    assert result.status is EnumRunStatus.FAILED
    assert "budget" in str(result.steps["slow"].error)


async def test_workflow_budget_cancels_concurrent_steps(nodes: dict[str, ScriptedNode]) -> None:
    # Two calls in flight: each in a task of its own, cut at the budget together.
    nodes["node_a_effect"].script["create"] = [30.0]
    nodes["node_b_effect"].script["create"] = [30.0]
    wf = workflow(
        step("a", timeout_ms=60_000),
        step("b", "node_b_effect", timeout_ms=60_000),
        info={"timeout_ms": 1000},
    )
    started = time.perf_counter()
    result = await runtime(nodes).run(wf)
    assert time.perf_counter() - started < 10
    assert result.status is EnumRunStatus.FAILED
    assert "budget" in str(result.steps["a"].error)
    assert "budget" in str(result.steps["b"].error)


async def test_workflow_budget_bounds_a_retried_step_and_its_back_off(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    # The only call in flight (awaited in the run's task): its retries end at the budget.
    nodes["node_a_effect"].script["create"] = [transient(), 30.0]
    wf = workflow(
        step("a", timeout_ms=60_000, retry={"max_attempts": 3, "base_delay_seconds": 0}),
        step("b", depends_on=["a"]),
        info={"timeout_ms": 1000},
    )
    started = time.perf_counter()
    result = await runtime(nodes).run(wf)
    assert time.perf_counter() - started < 10
    assert result.status is EnumRunStatus.FAILED
    assert result.run.failed_step == "a"
    assert "budget" in str(result.steps["a"].error)
    assert len(journal.calls) == 2  # the transient failure, then the cut attempt
    assert result.steps["b"].status is EnumStepStatus.PENDING


async def test_a_chain_step_cut_by_the_budget_is_not_a_step_timeout(
    nodes: dict[str, ScriptedNode],
) -> None:
    # A chain's step is awaited in the run's task under both its own deadline and the
    # run's: the nearer one decides which error the step gets.
    nodes["node_a_effect"].script["create"] = [30.0, 30.0]
    budget_first = workflow(step("a", timeout_ms=5_000), info={"timeout_ms": 1000})
    result = await runtime(nodes).run(budget_first)
    assert "budget" in str(result.steps["a"].error)
    step_first = workflow(step("a", timeout_ms=300), info={"timeout_ms": 20_000})
    result = await runtime(nodes).run(step_first)
    error = result.steps["a"].error
    assert error is not None
    assert error["error_type"] == "InfraTimeoutError"
    assert "budget" not in str(error)


async def test_resume_continues_after_a_crash_without_repeating_completed_steps(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    store = InMemoryWorkflowStore()
    wf = workflow(
        step("a", inputs={"value": "A"}),
        step("b", "node_b_effect", depends_on=["a"], inputs={"value": "${steps.a.output.value}"}),
        step("c", "node_c_effect", depends_on=["b"]),
    )
    nodes["node_b_effect"].script["create"] = [30.0]
    rt = runtime(nodes, store=store)
    task = asyncio.create_task(rt.run(wf, run_id="crashy"))
    await until(lambda: len(journal.calls) >= 2)
    task.cancel()  # the process "dies" while b runs
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await store.get_steps("crashy")
    assert stored["a"].status is EnumStepStatus.COMPLETED
    assert stored["b"].status is EnumStepStatus.RUNNING
    journal.calls.clear()
    result = await runtime(nodes, store=store).resume("crashy")
    assert result.status is EnumRunStatus.COMPLETED
    assert journal.ops() == ["node_b_effect.create", "node_c_effect.create"]
    assert journal.calls[0].request.value == "A"  # from the stored output
    assert journal.calls[0].request.metadata["idempotency-key"] == "crashy:b"
    again = await runtime(nodes, store=store).resume("crashy")
    assert again.status is EnumRunStatus.COMPLETED
    assert len(journal.calls) == 2


async def test_resume_needs_secret_inputs_again(nodes: dict[str, ScriptedNode]) -> None:
    store = InMemoryWorkflowStore()
    wf = workflow(step("a", inputs={"secret": "${input.pw}"}), inputs={"pw": {"secret": True}})
    rt = runtime(nodes, store=store)
    result = await rt.run(wf, {"pw": "s3cret-value"})
    run = result.run.model_copy(update={"status": EnumRunStatus.RUNNING})
    await store.save_run(run)
    with pytest.raises(InfraValidationError, match=r"needs the secret inputs \['pw'\]"):
        await rt.resume(result.run_id)
    resumed = await rt.resume(result.run_id, secret_inputs={"pw": SecretStr("s3cret-value")})
    assert resumed.status is EnumRunStatus.COMPLETED


async def test_a_secret_output_lost_in_a_restart_is_a_clear_error(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    store = InMemoryWorkflowStore()
    wf = workflow(
        step("issue", operation="issue"),
        step(
            "use",
            "node_b_effect",
            operation="use",
            depends_on=["issue"],
            inputs={"secret": "${steps.issue.output.token}"},
        ),
    )
    nodes["node_b_effect"].script["use"] = [30.0]
    rt = runtime(nodes, store=store)
    task = asyncio.create_task(rt.run(wf, run_id="lost"))
    await until(lambda: len(journal.calls) >= 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result = await runtime(nodes, store=store).resume("lost")
    assert result.status is EnumRunStatus.FAILED
    assert "secret outputs stored before a restart" in str(result.steps["use"].error)


async def test_resume_of_a_run_that_died_while_compensating(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    store = InMemoryWorkflowStore()
    nodes["node_b_effect"].script["create"] = [permanent()]
    nodes["node_a_effect"].script["delete"] = [30.0]
    rt = runtime(nodes, store=store)
    task = asyncio.create_task(rt.run(saga(), run_id="comp"))
    await until(lambda: any(c.operation == "delete" for c in journal.calls))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await store.get_run("comp")).status is EnumRunStatus.COMPENSATING
    journal.calls.clear()
    result = await runtime(nodes, store=store).resume("comp")
    assert result.status is EnumRunStatus.FAILED
    assert [c.request.value for c in journal.calls] == [2, 1]


async def test_resume_when_the_failure_was_recorded_but_not_compensated(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    store = InMemoryWorkflowStore()
    rt = runtime(nodes, store=store)
    result = await rt.run(saga(), run_id="half")
    steps = await store.get_steps("half")
    for sid in ("one", "two", "plain"):
        await store.save_step(steps[sid].model_copy(update={"status": EnumStepStatus.COMPLETED}))
    await store.save_step(steps["three"].model_copy(update={"status": EnumStepStatus.FAILED}))
    await store.save_run(result.run.model_copy(update={"status": EnumRunStatus.RUNNING}))
    journal.calls.clear()
    resumed = await runtime(nodes, store=store).resume("half")
    assert resumed.status is EnumRunStatus.FAILED
    assert resumed.run.failed_step == "three"
    assert [(c.operation, c.request.value) for c in journal.calls] == [("delete", 2), ("delete", 1)]


async def test_status_and_unknown_runs(nodes: dict[str, ScriptedNode]) -> None:
    store = InMemoryWorkflowStore()
    rt = runtime(nodes, store=store)
    result = await rt.run(workflow(step("a"), step("b", depends_on=["a"])))
    status = await rt.status(result.run_id)
    assert status.status is EnumRunStatus.COMPLETED
    assert status.order == ["a", "b"]
    assert [r.run_id for r in await store.list_runs()] == [result.run_id]
    with pytest.raises(InfraNotFoundError):
        await rt.status("nope")
    assert result.reducer_state is None
    assert isinstance(UUID(result.run.correlation_id), UUID)


def _token_workflow(*, rerun: bool = True) -> ModelWorkflow:
    return workflow(
        step("issue", operation="issue", rerun_on_resume=rerun),
        step("other", "node_c_effect"),
        step(
            "use",
            "node_b_effect",
            operation="use",
            depends_on=["issue", "other"],
            inputs={"secret": "${steps.issue.output.token}"},
        ),
    )


async def _crash_before_use(
    nodes: dict[str, ScriptedNode], journal: Journal, store: InMemoryWorkflowStore, run_id: str
) -> None:
    nodes["node_b_effect"].script["use"] = [30.0]
    task = asyncio.create_task(runtime(nodes, store=store).run(_token_workflow(), run_id=run_id))
    await until(lambda: "node_b_effect.use" in journal.ops())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_rerun_on_resume_step_is_called_again_for_its_lost_secret(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    store = InMemoryWorkflowStore()
    await _crash_before_use(nodes, journal, store, "rerun")
    events: list[ModelWorkflowEvent] = []
    result = await runtime(nodes, store=store, listeners=[events.append]).resume("rerun")
    assert result.status is EnumRunStatus.COMPLETED, result.run.error
    # issue ran again (once), other (no secret, no flag) did not
    assert journal.ops().count("node_a_effect.issue") == 2
    assert journal.ops().count("node_c_effect.create") == 1
    used = [c for c in journal.calls if c.operation == "use"][-1].request.secret
    assert used is not None
    assert used.get_secret_value() == "tok-node_a_effect-issue"
    kinds = [e.kind for e in events if e.step_id == "issue"]
    assert kinds == ["step.rerun", "step.rerun_completed"]
    assert result.steps["issue"].attempts == 2
    assert "tok-node_a_effect-issue" not in json.dumps(result.to_json_dict())


async def test_a_completed_run_or_a_step_nobody_needs_is_not_rerun(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    store = InMemoryWorkflowStore()
    result = await runtime(nodes, store=store).run(_token_workflow(), run_id="done")
    assert result.status is EnumRunStatus.COMPLETED
    # pretend the process died after the last step's record but before the run's
    await store.save_run(result.run.model_copy(update={"status": EnumRunStatus.RUNNING}))
    resumed = await runtime(nodes, store=store).resume("done")
    assert resumed.status is EnumRunStatus.COMPLETED
    assert journal.ops().count("node_a_effect.issue") == 1


async def test_a_failed_rerun_is_noted_and_the_dependent_step_names_the_lost_secret(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    store = InMemoryWorkflowStore()
    await _crash_before_use(nodes, journal, store, "rerun-fails")
    nodes["node_a_effect"].script["issue"] = [permanent("token endpoint says no")]
    result = await runtime(nodes, store=store).resume("rerun-fails")
    assert result.status is EnumRunStatus.FAILED
    assert result.run.failed_step == "use"
    assert "secret outputs stored before a restart" in str(result.steps["use"].error)
    assert any("rerun of step 'issue'" in note for note in result.run.notes)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rerun_on_resume": "yes"}, "rerun_on_resume"),
        (
            {
                "rerun_on_resume": True,
                "compensation": {"node": "node_a_effect", "operation": "delete"},
            },
            "cannot have a compensation",
        ),
    ],
)
def test_rerun_on_resume_is_validated_strictly(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(InfraConfigurationError, match=message):
        workflow(step("issue", operation="issue", **extra))
