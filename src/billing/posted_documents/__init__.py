"""What invoices and credit memos share: the posted ERP document as data, and its upsert (§10.3)."""
