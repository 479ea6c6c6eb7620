"""The pure rules of the auction house.

Nothing in this package does I/O or reads a clock: every decision takes ``now_ms`` as an
argument and returns events or refusals. tests/domain/test_purity.py enforces the imports.
"""
