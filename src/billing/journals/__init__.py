"""Journals: charge files uploaded by vendors, their validation and the journal lifecycle (billing-api.md §5.1, §8)."""
