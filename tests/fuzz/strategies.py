"""Hypothesis strategies for what people, browsers and scripts really send: odd unicode (NUL,
RTL marks, lone surrogates as invalid UTF-8 bytes, emoji, combining marks), very long text,
money that is huge, negative, NaN or Infinity, dates that are malformed or out of range,
unknown currencies, and ids of rows that do not exist or belong to another company.

Form values are text; `form_body` turns them into the bytes of an urlencoded body, so a lone
surrogate arrives as the invalid UTF-8 a broken client would send, not as a test-side error.
"""

from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

from webapp.forms import CURRENCIES

ODD_CHARACTERS = [
    "\x00",  # PostgreSQL cannot store it in text
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",  # byte order mark
    "\u0301",  # a combining accent with nothing to combine with
    "\U0001f4a9",  # an emoji outside the BMP
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a joined emoji sequence
    "\ud800",  # a lone high surrogate: sent as invalid UTF-8
    "\udcff",  # a surrogate-escaped byte: sent as the raw byte 0xFF
    "\uffff",
    "\r\n",
    "\t",
    "<script>",
    "'; --",
    "%",
    "&",
    "=",
    "١٢",  # Arabic-Indic digits
    "１２",  # full-width digits
]

odd_characters = st.sampled_from(ODD_CHARACTERS)

odd_text = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(odd_characters, st.characters()), max_size=12).map("".join),
    # Very long: past every column's length, and past the forms' Length validators.
    st.builds(
        lambda piece, times: piece * times,
        st.sampled_from(["x", "é", "\U0001f600", "\u200f", "\x00", " "]),
        st.integers(min_value=200, max_value=25_000),
    ),
)


def text_or_odd(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(valid, odd_text)


money = st.one_of(
    st.sampled_from(
        [
            "NaN",
            "-NaN",
            "sNaN",
            "Infinity",
            "-Infinity",
            "inf",
            "1e999999",
            "-1e999999",
            "1e-999999",
            "1E+12",
            "99999999999.99",
            "10000000000",
            "9999999999.99",
            "9999999999.999",
            "0.001",
            "-0",
            "-0.00",
            "-1",
            "1_000",
            "١٢٣",
            "１２３",
            "12,50",
            "€12",
            "12.5.1",
            "0x10",
            "1e",
            ".",
            "",
            "  ",
        ]
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    odd_text,
)

plain_money = st.decimals(min_value=0, max_value=99999, places=2).map(str)

dates = st.one_of(
    st.sampled_from(
        [
            "0000-00-00",
            "0001-01-01",
            "9999-12-31",
            "2026-02-30",
            "2026-13-01",
            "2026-1-1",
            "31/12/2026",
            "+002026-01-01",
            "2026-02-29",
            "2028-02-29",
            "1969-12-31",
        ]
    ),
    st.dates().map(lambda d: d.isoformat()),
    odd_text,
)

local_datetimes = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00",
            "0001-01-01 00:00",
            "9999-12-31T23:59",
            "2026-03-29T02:30",  # the hour Europe's clocks skip
            "2026-10-25T01:30",  # the hour that happens twice
            "2026-02-30T10:00",
            "2026-01-01T24:00",
            "2026-01-01T10:00:99",
            "2026-01-01T10:00Z",
        ]
    ),
    st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
    odd_text,
)

times = st.one_of(
    st.sampled_from(["00:00", "23:59", "24:00", "12:60", "9:00", "-1:00", "08:00:00"]),
    st.times().map(lambda t: t.isoformat(timespec="minutes")),
    odd_text,
)

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "-1", "1.5", "1e3", "2147483648", "9223372036854775808", "", "NaN"]),
    odd_text,
)

currencies = st.one_of(
    st.sampled_from(CURRENCIES),
    st.sampled_from(["XXX", "BTC", "usd", "US", "USDD", "€", "", "U\x00D", "ＵＳＤ"]),
    odd_text,
)


def ids(*known: int) -> st.SearchStrategy[str]:
    """Ids as text: the given ones (own rows, another company's), ones that exist nowhere
    (0, negative, past 32 and 64 bits), and text that is no id at all."""
    return st.one_of(
        st.sampled_from([str(i) for i in known]),
        st.sampled_from(["0", "-1", "999999", "2147483648", "9223372036854775808", "1" * 30]),
        odd_text,
    )


def url_ids(*known: int) -> st.SearchStrategy[int]:
    """Ids for a URL's <int:...> part: the route only matches digits."""
    return st.one_of(
        st.sampled_from(known),
        st.sampled_from([0, 999_999, 2**31, 2**63, 10**30]),
    )


def _encode(value: str) -> bytes:
    """UTF-8, except that a surrogate becomes the invalid bytes a broken client sends."""
    out = bytearray()
    for ch in value:
        if "\udc80" <= ch <= "\udcff":
            out += ch.encode("utf-8", "surrogateescape")  # the raw byte it stands for
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def form_body(fields: dict[str, str]) -> bytes:
    """An application/x-www-form-urlencoded body, byte for byte."""
    return b"&".join(
        quote_from_bytes(_encode(name)).encode() + b"=" + quote_from_bytes(_encode(value)).encode()
        for name, value in fields.items()
    )
