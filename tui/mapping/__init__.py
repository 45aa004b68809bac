"""View 5, the chart-of-accounts mapping queue: broker cash activity no rule maps, waiting
for an operator to pick its account. The engine owns the queue (`mapping.*` methods, the
`mapping` event topic); this package reads it over the socket (`queue_items` parses the
answers, `rows` lays them out), shows it (`screens`) and asks before it writes (`dialogs`).
"""
