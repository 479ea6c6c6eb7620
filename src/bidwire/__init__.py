"""bidwire: a real-time auction house."""

__version__ = "0.1.0"
