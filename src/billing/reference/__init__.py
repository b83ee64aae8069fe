"""Reference data (billing-api.md §11): accounts, sellers, buyers, agreements, …, their rules and import."""
