"""The overview page and the live poll that keeps every page current."""
