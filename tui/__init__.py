"""The tbot operator console (Textual). It talks to the engine only over the control socket.

The console itself arrives with the console issue; this package is installed from the start
so that the layout (engine in `tbot`, console in `tui`) is fixed early.
"""
