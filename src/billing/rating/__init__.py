"""Rating: markup resolution, per-charge prices and price summaries (billing-api.md §9)."""
