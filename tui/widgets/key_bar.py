"""The bottom line of every view: the keys that work here, as one line of text.

Textual's Footer builds a widget per key and rebuilds them all whenever the bindings change
(every focus change, every filter), which cost a quarter of a second per screen switch in
this app. The console needs no clickable keys (the mouse is optional), so one `Static`
redrawn from `screen.active_bindings` does the same job in well under a millisecond.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    """`key description` pairs for the active bindings marked `show`, dimmed when disabled,
    then the command palette's key at the right."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._redraw()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def on_resize(self) -> None:
        self._redraw()

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self._redraw()

    def _redraw(self) -> None:
        self.update(self.render_keys(self.size.width))

    def render_keys(self, width: int) -> Text:
        """The key line for the current bindings, cut to `width` with the palette key kept."""
        app = self.app
        seen_actions: set[str] = set()
        keys = Text(no_wrap=True, overflow="crop")
        palette = Text()
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            is_palette = binding.key == app.COMMAND_PALETTE_BINDING
            if is_palette or binding.action == "app.command_palette":
                if app.ENABLE_COMMAND_PALETTE:
                    palette = Text.assemble((f" {app.get_key_display(binding)}", "bold"),
                                            " palette ")
                continue
            if not binding.show or binding.action in seen_actions:
                continue
            seen_actions.add(binding.action)
            style = "" if enabled else "dim"
            keys.append(f" {app.get_key_display(binding)}", style=f"bold {style}".strip())
            keys.append(f" {binding.description} ", style=style or None)
        if width > 0 and palette:
            room = max(0, width - palette.cell_len)
            keys.truncate(room, overflow="ellipsis")
            keys.pad_right(room - keys.cell_len)
        return Text.assemble(keys, palette)
