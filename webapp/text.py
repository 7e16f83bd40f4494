"""Which characters text may hold: one rule for where text enters (forms, the API, imports) and
for where it leaves (mail headers, CSV cells).

A name is one line. A line break in it is never meant (a paste, or a forged request) and does
harm where the name leaves: Python's email refuses a header holding CR or LF, so a service
named "svc\\r\\nBcc: x@y" could never be mailed about, and a CSV reader or a log splits on it.
So one-line text refuses every control character (Unicode's Cc: C0, DEL and C1, NEL U+0085
among them), the line and paragraph separators U+2028 and U+2029, and lone surrogates (which
no encoder writes); `one_line` folds them into spaces in text stored before this rule.
Text of several lines (notes, an address, a description) keeps its line breaks and tabs, but
no other control character.
"""

import re

ONE_LINE_MESSAGE = "This cannot contain line breaks or control characters: keep it on one line."
LINES_MESSAGE = "This cannot contain control characters (line breaks and tabs are fine)."

_BREAKS = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_NOT_ONE_LINE = re.compile(f"[{_BREAKS}]")
_NOT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_FOLD = re.compile(rf"\s*[{_BREAKS}][\s{_BREAKS}]*")


def is_one_line(text: str) -> bool:
    return _NOT_ONE_LINE.search(text) is None


def is_lines(text: str) -> bool:
    """Text of several lines: line breaks (CR, LF) and tabs, but no other control character."""
    return _NOT_LINES.search(text) is None


def one_line(text: str) -> str:
    """`text` with each run of line breaks and control characters, and the spaces around it,
    folded into one space."""
    return _FOLD.sub(" ", text)
