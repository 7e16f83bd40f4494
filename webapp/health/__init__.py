"""Health scores with their factors, their history by month, the nightly run."""
