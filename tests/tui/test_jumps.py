"""The ``:`` jumps, as in k9s (issue 25, item 5): each form typed at the prompt, the
app's ``jump=`` (``timetravel ui KIND/NAME -n NS``), esc, suggestions, hostile names."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from textual.command import CommandList
from textual.content import Content
from textual.pilot import Pilot

from tests.fixtures.pilot import settle
from tests.fixtures.sample import INCIDENT, SAMPLE_NOW
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_rfc3339
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.tui.app import TimetravelApp
from timetravel.tui.jump import ALL, Jump, JumpError, JumpIndex, Scope, land, parse_jump
from timetravel.tui.widgets.jump_palette import JumpPalette
from timetravel.tui.widgets.resource_list import ResourceList

API = ResourceKey("prod", "apps", "Deployment", "payments", "api")
WEB_CONFIG = ResourceKey("prod", "", "ConfigMap", "frontend", "web-config")

Scenario = Callable[[TimetravelApp, Pilot[Any]], Awaitable[None]]

KEY_NAMES = {" ": "space", "/": "slash", ":": "colon", "-": "minus", "\\": "backslash"}


def drive(app: TimetravelApp, scenario: Scenario, size: tuple[int, int] = (120, 36)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


async def jump(pilot: Pilot[Any], text: str, *, enter: bool = True) -> None:
    """``:`` then ``text`` typed key by key (then enter)."""
    await pilot.press("colon")
    await settle(pilot)
    await pilot.press(*(KEY_NAMES.get(ch, ch) for ch in text))
    await settle(pilot)
    if enter:
        await pilot.press("enter")
        await settle(pilot)


def shown(app: TimetravelApp) -> list[ResourceKey]:
    return [row.key for row in app.query_one(ResourceList).rows]


def title(app: TimetravelApp) -> str:
    """The list's title as it reads on the screen."""
    return Content.from_markup(str(app.query_one(ResourceList).border_title)).plain


def test_kind_namespace_and_all(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        everything = len(shown(app))
        await jump(pilot, "deploy")
        assert not isinstance(app.screen, JumpPalette)
        assert shown(app) and {k.kind for k in shown(app)} == {"Deployment"}
        assert title(app) == f"Resources {len(shown(app))}/{everything} :deploy"
        await jump(pilot, "ns payments")  # the kind stays
        assert {(k.kind, k.namespace) for k in shown(app)} == {("Deployment", "payments")}
        assert title(app).endswith(":deploy payments")
        await jump(pilot, "configmaps")  # kubectl's plural; the namespace stays
        assert {(k.kind, k.namespace) for k in shown(app)} == {("ConfigMap", "payments")}
        await jump(pilot, "ns")  # every namespace again
        assert {k.kind for k in shown(app)} == {"ConfigMap"}
        assert len({k.namespace for k in shown(app)}) > 1
        await jump(pilot, "ns payments")
        await jump(pilot, "ns all")
        assert len({k.namespace for k in shown(app)}) > 1
        await jump(pilot, "svc frontend")  # KIND NAMESPACE
        assert {(k.kind, k.namespace) for k in shown(app)} == {("Service", "frontend")}
        await jump(pilot, "all")
        assert len(shown(app)) == everything
        assert title(app) == f"Resources {everything}"

    drive(make_app(), scenario)


def test_kind_slash_name_selects_it(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await jump(pilot, "cm/web-config")
        assert app.selected == WEB_CONFIG
        listing = app.query_one(ResourceList)
        assert listing.current() is not None and listing.current().key == WEB_CONFIG  # type: ignore[union-attr]
        assert listing.has_focus
        assert app.detail is not None and app.detail.key == WEB_CONFIG, "its YAML is shown"
        await jump(pilot, "deploy/api payments")
        assert app.selected == API
        assert {(k.kind, k.namespace) for k in shown(app)} == {("Deployment", "payments")}
        assert app.detail is not None and app.detail.key == API

    drive(make_app(), scenario)


def test_a_name_outside_the_namespace_scoped_to_is_found_elsewhere(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await jump(pilot, "ns payments")
        await jump(pilot, "cm/web-config")  # in frontend: the namespace scope goes
        assert app.selected == WEB_CONFIG
        assert title(app).endswith(":cm")

    drive(make_app(), scenario)


def test_jump_given_to_the_app_is_run_once_the_first_moment_is_loaded(make_app: Any) -> None:
    # What `timetravel ui deploy/api -n payments` passes.
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.selected == API
        assert app.detail is not None and app.detail.key == API
        assert {(k.kind, k.namespace) for k in shown(app)} == {("Deployment", "payments")}
        assert title(app).endswith(":deploy payments")
        await pilot.press("escape")  # clears the scope; the selection stays
        await settle(pilot)
        assert len({k.kind for k in shown(app)}) > 1 and app.selected == API

    drive(make_app(jump="deploy/api payments"), scenario)


def test_a_jump_to_what_is_not_there_says_so(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        warnings = [n.message for n in app._notifications]
        assert any("no Deployment nope in payments" in w for w in warnings), warnings
        assert title(app).endswith(":deploy payments")
        before = shown(app)
        await jump(pilot, "widgetz")  # no such kind: nothing changes
        assert shown(app) == before
        assert any("no kind widgetz" in n.message for n in app._notifications)
        await jump(pilot, "deploy a b c")
        assert any("one namespace at most" in n.message for n in app._notifications)

    drive(make_app(jump="deploy/nope payments"), scenario)


def test_esc_clears_the_slash_filter_then_the_jump(make_app: Any) -> None:
    # The / filter keeps working inside a jump's scope.
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        everything = len(shown(app))
        await jump(pilot, "deploy")
        deployments = len(shown(app))
        await pilot.press("slash", *"api")
        await settle(pilot)
        assert {(k.kind, k.name) for k in shown(app)} == {("Deployment", "api")}
        await pilot.press("enter", "escape")
        await settle(pilot)
        assert len(shown(app)) == deployments, "esc cleared the / filter only"
        await pilot.press("escape")
        await settle(pilot)
        assert len(shown(app)) == everything

    drive(make_app(), scenario)


def test_esc_closes_the_prompt_without_jumping(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        everything = len(shown(app))
        await jump(pilot, "deploy", enter=False)
        assert isinstance(app.screen, JumpPalette)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, JumpPalette)
        assert len(shown(app)) == everything

    drive(make_app(), scenario)


def test_suggestions_come_from_what_the_store_holds(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await jump(pilot, "pay", enter=False)
        offered = _offered(app)
        assert "ns payments" in offered
        assert "deployment/api payments" not in offered  # "api" does not hold p-a-y
        await pilot.press("backspace", "backspace", "backspace", *"depl")
        await settle(pilot)
        assert _offered(app)[0] == "Deployment (apps)"
        await pilot.press("tab")  # completes to the best
        await settle(pilot)
        assert app.screen.query_one("CommandInput").value == "deployment"  # type: ignore[attr-defined]
        await pilot.press("slash", *"ap")
        await settle(pilot)
        assert "deployment/api payments" in _offered(app)
        await pilot.press("escape")
        await settle(pilot)
        # Enter on a fragment runs the best suggestion: :depl is :deployment.
        await jump(pilot, "depl")
        assert {k.kind for k in shown(app)} == {"Deployment"}
        await jump(pilot, "ns pay")  # typed and entered at once: the best for it runs
        assert {k.namespace for k in shown(app)} == {"payments"}
        await jump(pilot, "cm/web")  # a name being typed: the best one runs
        assert app.selected == WEB_CONFIG
        await jump(pilot, "deploy/api payments")
        # A highlighted suggestion runs instead of the typed text.
        await jump(pilot, "web-conf", enter=False)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.selected == WEB_CONFIG

    drive(make_app(), scenario)


def test_the_ctrl_p_palette_takes_jumps_typed_with_their_colon(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press("colon", *"ns payments")
        await settle(pilot)
        assert _plain_text(_options(app)[0]) == ":ns payments"
        await pilot.press("enter")
        await settle(pilot)
        assert {k.namespace for k in shown(app)} == {"payments"}

    drive(make_app(), scenario)


def test_colon_q_quits_as_in_k9s(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await jump(pilot, "q")
        assert app.return_code == 0 and not app.is_running

    drive(make_app(), scenario)


def _options(app: TimetravelApp) -> list[Any]:
    commands = app.screen.query_one(CommandList)
    return [commands.get_option_at_index(i) for i in range(commands.option_count)]


def _plain_text(option: Any) -> str:
    return str(option.hit.text)


def _offered(app: TimetravelApp) -> list[str]:
    """The suggestions' first lines as shown."""
    return [str(o.prompt).split("\n")[0] for o in _options(app)]


# -- hostile names ----------------------------------------------------------------------------
HOSTILE = ["evil\x1b[2Jname", "[red]x[/]", "abc\u202edef"]


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile-jump") / "h.db"
    at = INCIDENT - timedelta(hours=1)
    lines = []
    for index, name in enumerate(HOSTILE):
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": "[b]ns[/b]",
                "uid": f"uid-{index}",
                "resourceVersion": str(10 + index),
            },
            "data": {"v": "1"},
        }
        event = {"type": "ADDED", "object": obj, "observed_at": to_rfc3339(at)}
        lines.append(orjson.dumps(event).decode())
    db = open_database(path)
    report = import_events(db, lines, cluster="prod", clock=lambda: SAMPLE_NOW)
    db.conn.close()
    assert report.written == len(HOSTILE)
    return path


def test_suggestions_show_names_as_written(make_app: Any, hostile_store: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await jump(pilot, "cm/", enter=False)
        offered = _offered(app)
        assert "configmap/evil\\x1b[2Jname [b]ns[/b]" in offered, offered
        assert "configmap/[red]x[/] [b]ns[/b]" in offered
        assert "configmap/abc\\u202edef [b]ns[/b]" in offered
        assert not any("\x1b" in text or "\u202e" in text for text in offered)
        await pilot.press(*"[red", "down", "enter")
        await settle(pilot)
        assert app.selected is not None and app.selected.name == "[red]x[/]"
        await jump(pilot, "ns [b]ns[/b]")
        assert len(shown(app)) == len(HOSTILE)
        assert title(app).endswith(":ns [b]ns[/b]"), "the scope as typed, not as markup"

    drive(make_app(db=hostile_store), scenario)


# -- the grammar and the landing, without the screen ------------------------------------------
@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("deploy", Jump(kind="deploy")),
        (":deploy", Jump(kind="deploy")),
        ("deploy/api", Jump(kind="deploy", name="api")),
        ("deploy/api payments", Jump(kind="deploy", name="api", namespace="payments")),
        ("deploy/api -n payments", Jump(kind="deploy", name="api", namespace="payments")),
        ("deploy -A", Jump(kind="deploy", namespace=ALL)),
        ("deploy all", Jump(kind="deploy", namespace=ALL)),
        ("ns payments", Jump(namespace="payments")),
        ("ns", Jump(namespace=ALL)),
        ("ns all", Jump(namespace=ALL)),
        ("all", Jump(everything=True)),
        ("ns/payments", Jump(kind="ns", name="payments")),  # the Namespace object
    ],
)
def test_the_grammar(typed: str, parsed: Jump) -> None:
    assert parse_jump(typed) == parsed
    assert parse_jump(parsed.text) == parsed


@pytest.mark.parametrize("typed", ["", ":", "/api", "deploy/", "a/b/c", "deploy a b", "all x"])
def test_what_is_not_a_jump(typed: str) -> None:
    with pytest.raises(JumpError):
        parse_jump(typed)


def test_landing_keeps_the_other_half_of_the_scope() -> None:
    keys = [API, WEB_CONFIG]
    assert land(parse_jump("ns payments"), Scope("deploy"), keys).scope == Scope(
        "deploy", "payments"
    )
    assert land(parse_jump("cm"), Scope("deploy", "frontend"), keys).scope == Scope(
        "cm", "frontend"
    )
    assert land(parse_jump("all"), Scope("deploy", "frontend"), keys).scope == Scope()


def test_what_enter_runs_as_typed() -> None:
    index = JumpIndex([API, WEB_CONFIG])
    assert index.knows("deploy") and index.knows("sts"), "kinds kubectl knows"
    assert index.knows("deploy/api payments") and index.knows("ns frontend")
    assert index.knows("deploy a b"), "it does not parse: enter shows why"
    assert not index.knows("depl"), "a fragment: the best suggestion runs"
    assert not index.knows("cm/web") and not index.knows("ns front")
    assert index.suggest("ns front")[0].text == "ns frontend"
    assert index.suggest("cm/")[0].text == "configmap/web-config frontend"


def test_suggestions_over_ten_thousand_resources_rank_the_typed_name_first() -> None:
    # How fast a key is answered at this size is bench/jump.py's figure, not a test's.
    keys = [
        ResourceKey("prod", "", "Pod", f"ns-{i % 40}", f"worker-{i:05d}-abcdef")
        for i in range(10_000)
    ]
    index = JumpIndex(keys)
    best = index.suggest("po/worker-01234")[0]
    assert best.text == "pod/worker-01234-abcdef ns-34"
    assert all("worker-0" in s.text for s in index.suggest("worker-0") if "/" in s.text)
    assert not [s for s in index.suggest("zzz") if "/" in s.text]
