"""Invoices (billing-api.md §5.5, §6.8, §6.9, §7.5): posted ERP sales invoices, pulled or posted, with lines."""
