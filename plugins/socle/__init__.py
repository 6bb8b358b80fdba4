"""Socle: a consent-first data warehouse for political campaigns."""

__version__ = "0.1.0"
