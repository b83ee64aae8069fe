"""Charges: one representation served under every parent (journal, ledger, custom ledger, statement)."""
