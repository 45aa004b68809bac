"""The command palette's (ctrl+p) console entries: every registry command, the views, help
and the command log.

Unavailable commands are listed too, marked with why, so the operator learns what the role
or the link is missing; choosing one goes to the runner, which refuses it with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.commands.keymap import keys_by_binding_id
from tui.commands.registry import COMMANDS, availability
from tui.commands.runner import CommandHost, CommandRunner


class PaletteHost(CommandHost, Protocol):
    """The app as the palette needs it: the runner's host, with its runner."""

    commands: CommandRunner


@dataclass(frozen=True)
class PaletteEntry:
    """One line of the palette: its text, its help line, what choosing it does."""

    text: str
    help: str
    run: Callable[[], Any]
    disabled: bool = False

    def display(self, highlighted: Any = None) -> Any:
        """The line as shown: dimmed when the command cannot be sent now."""
        if highlighted is not None:
            return highlighted
        return Text(self.text, style="dim") if self.disabled else self.text


class RegistryCommands(Provider):
    """Registry commands (one hit per strategy for enable/disable), views, help, log."""

    def _entries(self) -> Iterator[PaletteEntry]:
        app = self.app
        host = cast(PaletteHost, app)
        keys = keys_by_binding_id(self.screen)
        for command in COMMANDS:
            state = availability(command, host.live)
            key = keys.get(command.binding_id, command.key)
            help_text = f"{key} · {command.summary}"
            if not state.enabled:
                help_text = f"{key} · disabled: {state.reason}"
            choices = command.choices or (None,)
            for choice in choices:
                yield PaletteEntry(
                    text=command.choice_title(choice) if choice else command.title,
                    help=help_text,
                    run=partial(host.commands.start, command.id, choice),
                    disabled=not state.enabled,
                )
        yield from self._view_entries()
        for mode, screen in getattr(app, "MODES", {}).items():
            title = getattr(screen, "VIEW_TITLE", "") or mode.title()
            yield PaletteEntry(
                text=f"Go to: {title}",
                help=f"the {title.lower()} view",
                run=partial(app.switch_mode, mode),
            )
        yield PaletteEntry(
            text="Help: keys and commands",
            help="? · every binding of this view and every command",
            run=partial(app.run_action, "show_help"),
        )
        yield PaletteEntry(
            text="Command log",
            help="what was sent to the engine and what it answered",
            run=partial(app.run_action, "show_command_log"),
        )

    def _view_entries(self) -> Iterator[PaletteEntry]:
        """The keys of the view the palette was opened on (its own bindings, not the app's
        or a table's): `Mapping: Accept`, with the key and, when dimmed, why."""
        screen = self.screen
        title = getattr(screen, "VIEW_TITLE", "") or type(screen).__name__
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is not screen or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            shown_key = binding.key_display or screen.app.get_key_display(binding)
            why = active.tooltip or "not available now"
            yield PaletteEntry(
                text=f"{title}: {binding.description}",
                help=f"{shown_key} · {'this view' if active.enabled else why}",
                run=partial(screen.run_action, binding.action),
                disabled=not active.enabled,
            )

    async def discover(self) -> Hits:
        """Every entry, in registry order, before anything is typed."""
        for entry in self._entries():
            yield DiscoveryHit(entry.display(), entry.run, text=entry.text, help=entry.help)

    async def search(self, query: str) -> Hits:
        """The entries whose text fuzzily matches `query`."""
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.text)
            if score > 0:
                yield Hit(
                    score,
                    entry.display(matcher.highlight(entry.text)),
                    entry.run,
                    text=entry.text,
                    help=entry.help,
                )
