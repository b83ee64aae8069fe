"""Database: engine, session scope, column types, table models and Alembic migrations."""
