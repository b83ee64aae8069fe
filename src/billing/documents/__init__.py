"""Documents: PDF and CSV renderings of statements, invoices and credit memos from templates, stored as `Output`
attachments and delivered to finance (e-mail, drop folder)."""
