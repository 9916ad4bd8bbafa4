"""What a first session sees: the project opened is remembered, checkboxes read without
colour, the bench form measures every runtime like the CLI, the footer shows whole keys."""

from __future__ import annotations

from tests.tui.conftest import settle
from workbench.jobs.projects import start_project
from workbench.tui.widgets.checks import CheckBox, CheckList


async def test_opening_a_project_makes_it_the_next_start(seeded, make_app, store) -> None:
    assert start_project(store) is None  # several projects, none used yet
    app = make_app("mobile-v2")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
    assert start_project(store) == "mobile-v2"


async def test_forms_read_without_colour_and_default_like_the_cli(seeded, make_app) -> None:
    from workbench.options import runtime_names

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("B")
        await settle(pilot)
        form = app.screen
        runtimes = form.query_one("#runtimes", CheckList)
        assert tuple(runtimes.selected) == tuple(runtime_names())
        lines = [runtimes.render_line(y).text for y in range(len(runtime_names()))]
        assert all(line.lstrip().startswith("[x] ") for line in lines), lines
        runtimes.deselect("gpu")
        assert runtimes.render_line(1).text.lstrip().startswith("[ ] gpu")
        box = form.query_one("#cpu_fxp", CheckBox)
        assert box.render().plain.startswith("[ ]")
        box.value = True
        assert box.render().plain.startswith("[x]")
        # The buttons stay on screen at 24 rows, below fields that scroll.
        start = form.query_one("#start")
        assert start.region.bottom <= 24 and start.region.y > 0


async def test_the_footer_shows_whole_keys_and_question_mark_for_the_rest(seeded, make_app):
    from workbench.tui.widgets.key_footer import KeyFooter

    async def footer_keys(pilot) -> list:
        for _ in range(50):  # the footer lays its keys out after the bindings settle
            await settle(pilot)
            keys = list(pilot.app.screen.query_one(KeyFooter).query("FooterKey"))
            if len(keys) > 2:
                return keys
            await pilot.pause(0.05)
        return keys

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        keys = await footer_keys(pilot)
        descriptions = [k.description for k in keys]
        assert descriptions[-2:] == ["more keys", "palette"]  # not all fit at 80 columns
        used = sum(len(k.key_display) + len(k.description) + 2 for k in keys)
        assert used <= 80
    wide = make_app()
    async with wide.run_test(size=(200, 24)) as pilot:
        descriptions = [k.description for k in await footer_keys(pilot)]
        assert "Advisor" in descriptions and "more keys" not in descriptions
