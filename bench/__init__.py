"""Benchmarks: each figure is printed beside a baseline measured in the same run."""

import os
import secrets

# The app refuses to start without a key; benchmark processes (gunicorn, workers) inherit this
# throwaway one, so sessions made in a run are valid only in that run.
os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
