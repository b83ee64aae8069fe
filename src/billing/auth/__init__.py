"""Authentication (API tokens, JWTs), the principal, the capability matrix and data scoping."""
