"""Credit memos (billing-api.md §5.6, §6.10, §6.11, §7.6): posted ERP sales credit memos, with lines."""
