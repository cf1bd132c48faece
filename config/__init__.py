"""Settings schema and shipped data files (example config, Kenyan prefix table)."""
