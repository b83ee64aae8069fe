"""Marketplace Billing service."""

__version__ = "0.1.0"
