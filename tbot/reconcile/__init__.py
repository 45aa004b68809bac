"""Broker sync and reconciliation: the room that joins the broker and the ledger.

`sync` reads every fill and cash activity of a window from the broker (with provenance),
compares each with the ledger by the broker's id and records the outcome;
`checks` compares positions and cash; `resolution` clears a break on the record;
`service` runs all of it for the engine (at start, on a schedule, at the day's end, on
demand) and `offline` for the CLI when no engine runs. Nothing here reaches into the
engine: it talks to the broker, the ledger and the engine through the ports in `ports`.
"""
