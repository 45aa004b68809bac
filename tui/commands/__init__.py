"""The operator's commands: one registry (`registry`) feeds the hotkeys, the command palette
(`palette`) and the help screen; `runner` asks, confirms, sends and logs; `keymap` lets a
user rebind any binding by its id."""
