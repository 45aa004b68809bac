"""The engine runtime: clock, scheduler, session loop, control methods."""
