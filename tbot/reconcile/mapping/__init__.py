"""The chart-of-accounts mapping room: broker cash records onto ledger accounts, in layers.

- `records`: the record as the layers see it, and its tokens.
- `rules`, `defaults`: rules, rule sets and their hashes; the shipped version 1.
- `learning`: the model learned from the operator decision history (confidence, reasons,
  precedents), rebuilt from the append-only history, so an undone decision stops counting.
- `layers`: rules, then the model above `MAPPING_AUTO_APPLY_CONFIDENCE`, then the queue.
- `sync_round`: mapping inside a broker sync (posted in the sync's own batch).
- `booking`: the rows and entries a decision writes; `store`: reads of the mapping tables.
- `documents`: export / import of a version; `service`: the queue, assignments, versions,
  replay, activation and rollback; `methods`: the `mapping.*` control methods.
"""
