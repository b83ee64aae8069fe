"""Attachments of every parent (billing-api.md §3.10, §3.11, §5.11, §6.13)."""
