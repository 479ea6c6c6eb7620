"""Clients of the bidwire server: the terminal client lives in :mod:`bidwire.client.terminal`."""
