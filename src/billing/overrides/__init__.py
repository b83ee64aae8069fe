"""Manual overrides (billing-api.md §5.7, §6.12, §7.7)."""
