"""Ledgers (billing-api.md §5.2, §6.5, §7.2): created by rating, one per (journal, seller)."""
