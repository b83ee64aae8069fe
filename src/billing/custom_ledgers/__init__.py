"""Custom ledgers (billing-api.md §8.7): manually uploaded ERP sales documents turned into charges."""
