"""The core's shape: events and commands live beside their machines and are all gathered
in ``core.events`` / ``core.commands``; the core imports nothing of ours but itself."""

from __future__ import annotations

import ast
import enum
import importlib
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

import orchestrator.core
from orchestrator.core import commands, events
from orchestrator.core.common import CancelTimer, Command, Event, StartTimer, Timers

CORE = Path(orchestrator.core.__file__).parent


def core_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages([str(CORE)], "orchestrator.core.")]
    return [importlib.import_module(n) for n in sorted(names)]


def defined_in_core(base: type) -> set[type]:
    found: set[type] = set()
    for module in core_modules():
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, base) and value is not base
                    and value.__module__ == module.__name__):
                found.add(value)
    return found


@pytest.mark.parametrize(("namespace", "base"), [(events, Event), (commands, Command)])
def test_every_event_and_command_is_in_its_aggregate_namespace(
    namespace: ModuleType, base: type
) -> None:
    exported = {getattr(namespace, name) for name in namespace.__all__}
    missing = {cls.__qualname__ for cls in defined_in_core(base) - exported}
    assert not missing, f"{namespace.__name__} lacks {sorted(missing)}"


@pytest.mark.parametrize(("namespace", "base"), [(events, Event), (commands, Command)])
def test_aggregates_hold_only_events_or_commands_and_their_enums(
    namespace: ModuleType, base: type
) -> None:
    for name in namespace.__all__:
        value = getattr(namespace, name)
        assert isinstance(value, type), name
        assert issubclass(value, base | enum.Enum), name
        assert value.__module__ != namespace.__name__, f"{name} belongs beside its machine"


def test_the_core_imports_nothing_of_ours_but_itself() -> None:
    ours = ("orchestrator", "pbxsim")
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ours:
                    assert name == "orchestrator.core" or name.startswith("orchestrator.core."), (
                        f"{path.relative_to(CORE)} imports {name}")


def test_a_timer_that_fires_after_it_was_cancelled_is_stale() -> None:
    at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    timers = Timers("call/A")
    assert timers.start("grace", at) == StartTimer("call/A/grace", at)
    assert timers.is_armed("grace") and len(timers) == 1
    assert timers.fired("call/A/grace") == "grace"
    assert timers.fired("call/A/grace") is None  # fired once only
    timers.start("no_answer", at)
    assert timers.cancel("no_answer") == CancelTimer("call/A/no_answer")
    assert timers.fired("call/A/no_answer") is None
    timers.start("b", at)
    timers.start("a", at)
    assert timers.cancel_all() == [CancelTimer("call/A/a"), CancelTimer("call/A/b")]
    assert not timers
