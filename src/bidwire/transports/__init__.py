"""Transports: thin shells that turn bytes into messages for one Session type."""
