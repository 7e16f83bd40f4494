"""What a new password must be: long enough, and not one of the passwords tried first.

Length is what makes a password hard to guess (NIST SP 800-63B); composition rules ("a digit
and a symbol") mostly produce "Password1!". The list refused is Django's (BSD licence, see
data/LICENSE): 20,000 passwords seen most often in breaches, lowercase, compared
case-insensitively as Django does.
"""

import gzip
from functools import cache
from pathlib import Path

MIN_LENGTH = 12
# Long enough for any passphrase; a bound keeps scrypt's work and the form's body small.
MAX_LENGTH = 200

COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt.gz"


@cache
def _common() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def problem(password: str) -> str | None:
    """Why `password` cannot be used, in a sentence for the person choosing it; None if it can."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters: a few words in a row are easy to remember."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.lower() in _common() or password.strip().lower() in _common():
        return "That password is one of the most common ones, tried first by attackers: choose another."
    return None
