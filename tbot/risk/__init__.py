"""The risk room: trading states, sizing, session limits and the gate every order passes.

Everything here is pure decision logic (no I/O, no clock, no broker, no ledger), so the
engine and the backtester take the very same decisions.
"""
