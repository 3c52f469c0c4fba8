"""Test infrastructure for real distributed set-ups: a PostgreSQL server, private network namespaces, Ray clusters."""
