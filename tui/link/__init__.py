"""The console's side of the control socket: keeping the live state fed."""
