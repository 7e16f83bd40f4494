"""Local servers for development and tests: an embedded Redis and a throwaway PostgreSQL."""
