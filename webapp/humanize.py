"""Durations in words, for pages and mail."""


def human_minutes(minutes: float, days: bool = True) -> str:
    """35 -> "35 min", 240 -> "4 h", 90 -> "1 h 30 min", 3000 -> "2 d 2 h" ("50 h" without days)."""
    total = max(1, round(minutes))
    d, rest = divmod(total, 1440) if days and total >= 2880 else (0, total)
    h, m = divmod(rest, 60)
    if d:
        return f"{d} d {h} h" if h else f"{d} d"
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{m} min"
