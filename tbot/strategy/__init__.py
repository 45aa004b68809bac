"""Strategies (open now; mid and close later) and the windows they trade in.

Strategy code is pure: bars in, signals out, no I/O and no event loop, so the engine and
the backtester run the very same code.
"""
