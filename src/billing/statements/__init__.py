"""Statements (billing-api.md §5.4, §6.7, §7.4, §9.5): one per (ledger or custom ledger, agreement)."""
