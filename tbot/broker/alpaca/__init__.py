"""Alpaca through alpaca-py: the broker adapter (`adapter.AlpacaBroker`), its credentials,
its request budget and transport, and the normalizers of Alpaca's payloads.

What the SDK does that we do not let it do (see ../shared/research/alpaca.md): retry on
its own (a 504 on an order submission would place a second order), send requests without
a timeout, parse money into floats, refuse activity types it does not know. We use its
authenticated client in raw-data mode over a session we control, and read every payload
ourselves into `Decimal`.
"""
