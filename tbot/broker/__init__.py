"""Brokers: the adapter protocol and its implementations (simulated; Alpaca and IBKR later).

This room knows nothing of ledgers: it speaks orders, fills, positions and cash activity.
"""
