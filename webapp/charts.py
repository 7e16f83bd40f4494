"""Numbers turned into SVG geometry, drawn by the macros in templates/_charts.html.

Pure Python, no Flask: a chart is a frozen dataclass of rectangles, polylines, ticks and
labels in the SVG's own coordinates, so its geometry is tested without a browser. The
templates add only elements and classes (coloured in app.css): no inline style, no script,
so the page's Content-Security-Policy holds and a chart survives an htmx swap unchanged.
"""

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from webapp.lifecycle.health import BAND_RANGES

# Room for the tick labels on the left and the category labels below the plot.
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 8, 22
BAR_SHARE = Decimal("0.6")  # of each category's slot; the rest is the gap between bars
STEPS = (1, 2, 5, 10)


@dataclass(frozen=True)
class Scale:
    lo: Decimal
    hi: Decimal
    ticks: list[Decimal]


def nice_scale(lo, hi, n: int = 4) -> Scale:
    """A scale covering [lo, hi] with about `n` steps of 1, 2 or 5 times a power of ten."""
    lo, hi = Decimal(lo), Decimal(hi)
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:  # nothing to spread (an empty month): one step above the value
        hi = lo + 1
    raw = (hi - lo) / n
    power = Decimal(10) ** math.floor(math.log10(raw))
    step = next(s * power for s in STEPS if s * power >= raw)
    first = (lo / step).to_integral_value(rounding="ROUND_FLOOR") * step
    last = (hi / step).to_integral_value(rounding="ROUND_CEILING") * step
    count = int((last - first) / step)
    return Scale(first, last, [_plain(first + i * step) for i in range(count + 1)])


def _plain(value: Decimal) -> Decimal:
    """Without an exponent or trailing zeros: 100, not 1E+2."""
    value = value.normalize()
    return value.quantize(1) if value == value.to_integral_value() else value


def _r(value) -> float:
    return round(float(value), 1)


@dataclass(frozen=True)
class Tick:
    value: Decimal
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Bar:
    series: str
    category: str
    value: Decimal
    x: float
    y: float
    width: float
    height: float

    @property
    def title(self) -> str:
        return f"{self.category}, {self.series}: {_plain(Decimal(self.value))}"


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    series: str
    segments: list[str]  # polyline points; a missing value breaks the line
    dots: list[Dot]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: list[str]  # in legend order
    ticks: list[Tick]
    labels: list[Label]
    baseline: float  # y of zero
    bars: list[Bar]
    lines: list[Line]
    left: int = LEFT
    right: int = 0  # x where the plot ends (set by the constructors)


class _Frame:
    """The plot area and its vertical scale."""

    def __init__(self, categories, scale: Scale, width: int, height: int):
        self.scale = scale
        self.bottom = height - BOTTOM
        self.plot_height = Decimal(self.bottom - TOP)
        self.slot = Decimal(width - LEFT - RIGHT) / max(1, len(categories))
        self.right = width - RIGHT

    def y(self, value) -> Decimal:
        share = (Decimal(value) - self.scale.lo) / (self.scale.hi - self.scale.lo)
        return TOP + self.plot_height * (1 - share)

    def centre(self, i: int) -> Decimal:
        return LEFT + self.slot * i + self.slot / 2

    def ticks(self) -> list[Tick]:
        return [Tick(t, _r(self.y(t)), f"{t:,}") for t in self.scale.ticks]

    def labels(self, categories) -> list[Label]:
        return [
            Label(_r(self.centre(i)), self.bottom + 16, str(c)) for i, c in enumerate(categories)
        ]


def bar_chart(
    categories,
    series: dict[str, list[Decimal]],
    stacked: bool = True,
    diverging: bool = False,
    width: int = 640,
    height: int = 200,
) -> Chart:
    """Bars per category, one colour per series (stacked, or side by side).

    diverging: negative values are drawn below the zero line, each stack growing away from
    it (MRR's contraction and churn under its new business); otherwise values are counts or
    amounts from zero up, and a negative one is a mistake."""
    values = {name: [Decimal(v or 0) for v in vs] for name, vs in series.items()}
    if not diverging and any(v < 0 for vs in values.values() for v in vs):
        raise ValueError("negative values need diverging=True")
    columns = list(zip(*values.values(), strict=True)) or [()] * len(categories)
    if stacked:
        highs = [sum(v for v in col if v > 0) for col in columns]
        lows = [sum(v for v in col if v < 0) for col in columns]
    else:
        highs = [max((v for v in col), default=0) for col in columns]
        lows = [min((v for v in col), default=0) for col in columns]
    frame = _Frame(categories, nice_scale(min([0, *lows]), max([0, *highs])), width, height)
    bars = []
    names = list(values)
    for i, category in enumerate(categories):
        up = down = Decimal(0)  # how far each stack has grown from zero
        for k, name in enumerate(names):
            value = values[name][i]
            if stacked:
                bar_width = frame.slot * BAR_SHARE
                x = frame.centre(i) - bar_width / 2
                if value >= 0:
                    start, up = up, up + value
                else:
                    start, down = down, down + value
                lo, hi = sorted((start, start + value))
            else:
                bar_width = frame.slot * BAR_SHARE / len(names)
                x = frame.centre(i) - frame.slot * BAR_SHARE / 2 + bar_width * k
                lo, hi = sorted((Decimal(0), value))
            if value == 0:
                continue
            top, bottom = frame.y(hi), frame.y(lo)
            bars.append(
                Bar(name, str(category), value, _r(x), _r(top), _r(bar_width), _r(bottom - top))
            )
    return Chart(
        width,
        height,
        names,
        frame.ticks(),
        frame.labels(categories),
        _r(frame.y(0)),
        bars,
        [],
        right=frame.right,
    )


def line_chart(
    categories, series: dict[str, list[Decimal | None]], width: int = 640, height: int = 200
) -> Chart:
    """A line per series across the categories; a None (no figure that month) breaks it."""
    known = [Decimal(v) for vs in series.values() for v in vs if v is not None]
    frame = _Frame(categories, nice_scale(min([0, *known]), max([0, *known])), width, height)
    lines = []
    for name, vs in series.items():
        segments, run, dots = [], [], []
        for i, v in enumerate(vs):
            if v is None:
                if run:
                    segments.append(" ".join(run))
                run = []
                continue
            x, y = _r(frame.centre(i)), _r(frame.y(v))
            run.append(f"{x:g},{y:g}")
            dots.append(Dot(x, y, f"{categories[i]}, {name}: {_plain(Decimal(v))}"))
        if run:
            segments.append(" ".join(run))
        lines.append(Line(name, segments, dots))
    return Chart(
        width,
        height,
        list(series),
        frame.ticks(),
        frame.labels(categories),
        _r(frame.y(0)),
        [],
        lines,
        right=frame.right,
    )


class Sparkline(NamedTuple):
    points: str
    last: tuple[float, float]
    guides: dict[int, float]  # band floor -> y


def sparkline(
    scores: list[int], width: int = 240, height: int = 48, pad: int = 4, guides: bool = True
) -> Sparkline:
    """Health scores as (points, last point, band guides): x spread evenly, y from 100 (top)
    to 0 (bottom), on a fixed scale so a line's height means the same on every service."""

    def y(score):
        return round(pad + (100 - score) * (height - 2 * pad) / 100, 1)

    step = (width - 2 * pad) / max(1, len(scores) - 1)
    coords = [(round(pad + i * step, 1), y(s)) for i, s in enumerate(scores)]
    points = " ".join(f"{x:g},{yy:g}" for x, yy in coords)
    floors = sorted({lo for lo, _ in BAND_RANGES.values()}) if guides else []
    return Sparkline(points, coords[-1], {floor: y(floor) for floor in floors if floor})
