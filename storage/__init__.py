"""SQLite persistence: the store, its schema migrations, and ingest of snapshot files."""
