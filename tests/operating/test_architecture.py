"""The layers stay visible and one-directional (docs/architecture.md).

ground (`common`) <- `storage` <- alert core (`notifier.alerts`) <- sources and pipelines
(`notifier.monitoring`, `notifier.delivery`, `notifier.install`, `notifier.inbound`) <-
`notifier.chat` <- `bots` (all botbuilder) <- the composition root and CLI (`heatwatch`, `app.py`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS: list[tuple[str, ...]] = [
    ("common",),
    ("storage",),
    ("notifier.alerts",),
    ("notifier.monitoring", "notifier.delivery", "notifier.install", "notifier.inbound"),
    ("notifier.chat",),
    ("bots",),
    ("heatwatch", "app"),
]
PLATFORM = ("botbuilder", "botframework", "msrest")
TEAMS_CODES = ("BotNotInConversationRoster", "ForbiddenOperationException",
               "ConversationBlockedByUser", "BotDisabledByAdmin", "ConversationNotFound")


NAMESPACES = {"notifier": 2}  # a package that only holds subpackages: its docstring


def layer_of(module: str) -> int | None:
    if module in NAMESPACES:
        return NAMESPACES[module]
    for index, packages in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return index
    return None


def application_modules() -> dict[str, Path]:
    modules = {"app": ROOT / "app.py"}
    for package in ("common", "storage", "notifier", "bots", "heatwatch"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = application_modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_up_a_layer_or_across_siblings(module: str) -> None:
    own = layer_of(module)
    assert own is not None, f"{module} is in no layer: add its package to LAYERS and docs/architecture.md"
    own_package = next((p for p in LAYERS[own] if module == p or module.startswith(p + ".")),
                       module)
    for imported in imports_of(MODULES[module]):
        other = layer_of(imported)
        if other is None:
            continue
        assert other <= own, f"{module} (layer {own}) imports {imported} (layer {other})"
        if other == own and own not in (len(LAYERS) - 1,):
            assert imported == own_package or imported.startswith(own_package + "."), (
                f"{module} imports its sibling {imported}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_botbuilder_is_imported_only_in_bots(module: str) -> None:
    if module.startswith("bots"):
        return
    platform = [name for name in imports_of(MODULES[module]) if name.startswith(PLATFORM)]
    assert not platform, f"{module} imports {platform}: botbuilder belongs in bots/"


def test_no_teams_error_code_is_named_outside_bots() -> None:
    offenders = [f"{module}: {code}" for module, path in MODULES.items()
                 if not module.startswith("bots") for code in TEAMS_CODES
                 if code in path.read_text()]
    assert not offenders


def test_notifier_has_at_most_eight_modules_at_its_top() -> None:
    top = [path.name for path in (ROOT / "notifier").glob("*.py")]
    assert len(top) <= 8, top
