"""Chart geometry (webapp/charts.py) and its macros (templates/_charts.html)."""

import datetime as dt
from decimal import Decimal

import pytest
from flask import render_template_string

from webapp import charts
from webapp.charts import bar_chart, line_chart, nice_scale, sparkline
from webapp.health.queries import HealthTrend

D = Decimal


def test_nice_scales_step_by_one_two_or_five_times_a_power_of_ten():
    assert nice_scale(0, 352).ticks == [0, 100, 200, 300, 400]
    assert nice_scale(0, 7).ticks == [0, 2, 4, 6, 8]
    assert nice_scale(-300, 250).ticks == [-400, -200, 0, 200, 400]
    assert nice_scale(0, D("0.568")).ticks == [0, D("0.2"), D("0.4"), D("0.6")]
    # An empty chart still has a scale to draw on (no division by zero).
    assert nice_scale(0, 0).ticks == [0, D("0.5"), 1]
    # Ticks print as people write numbers, not as 1E+2.
    assert [str(t) for t in nice_scale(0, 1000).ticks] == ["0", "500", "1000"]


def test_stacked_bars_have_heights_in_proportion_and_stack_on_each_other():
    chart = bar_chart(
        ["Jan", "Feb"],
        {"healthy": [D(3), D(2)], "fair": [D(1), D(1)], "poor": [D(0), D(1)]},
        width=248,
        height=130,
    )
    # Plot: x from 48 to 240 (96 a month), y from 8 (top) to 108 (zero); scale 0-4, 25 px each.
    assert [t.value for t in chart.ticks] == [0, 1, 2, 3, 4]
    assert chart.baseline == 108
    jan = [b for b in chart.bars if b.category == "Jan"]
    assert [(b.series, b.y, b.height) for b in jan] == [("healthy", 33, 75), ("fair", 8, 25)]
    assert {(b.x, b.width) for b in jan} == {(67.2, 57.6)}  # centred in its slot, 60% wide
    feb = [(b.series, b.y, b.height) for b in chart.bars if b.category == "Feb"]
    assert feb == [("healthy", 58, 50), ("fair", 33, 25), ("poor", 8, 25)]
    assert jan[0].title == "Jan, healthy: 3"
    assert [(label.x, label.text) for label in chart.labels] == [(96, "Jan"), (192, "Feb")]


def test_side_by_side_bars_share_the_slot_from_zero():
    chart = bar_chart(
        ["Feb"], {"response": [D(4)], "resolution": [D(1)]}, stacked=False, width=248, height=130
    )
    bars = [(b.series, b.x, b.width, b.y, b.height) for b in chart.bars]
    # Scale 0-4: 25 px a breach. The slot is 192 wide; its two bars take 60% of it.
    assert bars == [("response", 86.4, 57.6, 8, 100), ("resolution", 144, 57.6, 83, 25)]


def test_a_diverging_chart_draws_losses_below_the_zero_line():
    chart = bar_chart(
        ["Feb"],
        {"new": [D(0)], "expansion": [D(200)], "contraction": [D(-60)], "churned": [D(-40)]},
        diverging=True,
        width=248,
        height=180,
    )
    assert [t.value for t in chart.ticks] == [-100, 0, 100, 200]
    # 150 px for 300: zero at 8 + 150 * 200/300 = 108, half a pixel a unit.
    assert chart.baseline == 108
    bars = {b.series: (b.y, b.height) for b in chart.bars}
    assert bars == {"expansion": (8, 100), "contraction": (108, 30), "churned": (138, 20)}
    assert "new" not in bars  # nothing to draw for a zero
    with pytest.raises(ValueError, match="diverging"):
        bar_chart(["Feb"], {"contraction": [D(-60)]})


def test_lines_break_where_a_month_has_no_figure():
    chart = line_chart(
        ["Feb", "Mar", "Apr"], {"services": [D(20), None, D(0)]}, width=248, height=130
    )
    (line,) = chart.lines
    assert line.segments == ["80,8", "208,108"]
    assert [d.title for d in line.dots] == ["Feb, services: 20", "Apr, services: 0"]


# The service page's trend as it was drawn before the charts module existed (captured from
# that version), for the scores 90, 85, 60, 72, the first on 2026-01-01 03:00.
TREND_BEFORE = """<figure class="trend">
  <svg viewBox="0 0 240 48" aria-hidden="true" focusable="false">
    <line x1="0" x2="240" y1="28.0" y2="28.0" class="guide"><title>40</title></line><line x1="0" x2="240" y1="20.0" y2="20.0" class="guide"><title>60</title></line><line x1="0" x2="240" y1="12.0" y2="12.0" class="guide"><title>80</title></line>
    <polyline points="4,8 81.3,10 158.7,20 236,15.2" class="line"/>
    <circle cx="236.0" cy="15.2" r="3" class="dot"/>
  </svg>
  <figcaption><small>The last 4 health scores went from 90 to 72 (lowest 60, highest 90). The first was on 2026-01-01 03:00.</small></figcaption>
</figure>"""  # noqa: E501


def test_sparkline_geometry_is_what_the_service_page_drew_before():
    assert sparkline([90, 85, 60, 72]) == (
        "4,8 81.3,10 158.7,20 236,15.2",
        (236.0, 15.2),
        {40: 28.0, 60: 20.0, 80: 12.0},
    )
    assert sparkline([77, 74, 72, 29]).points == "4,13.2 81.3,14.4 158.7,15.2 236,32.4"
    # A service row's sparkline: small, no band guides.
    assert sparkline([88, 80, 74], 64, 16, 2, guides=False) == (
        "2,3.4 32,4.4 62,5.1",
        (62, 5.1),
        {},
    )


def test_the_trend_figure_renders_exactly_as_before(app):
    scores = [90, 85, 60, 72]
    points, last, guides = charts.sparkline(scores, 240, 48)
    trend = HealthTrend(scores, dt.datetime(2026, 1, 1, 3), points, last, guides, 240, 48)
    with app.test_request_context():
        html = render_template_string(
            '{% include "services/_trend.html" %}', trend=trend, service=None
        )
    assert html.strip() == TREND_BEFORE


def test_a_chart_is_a_labelled_image_with_classes_and_no_style(app):
    chart = bar_chart(["Feb"], {"response": [D(1)], "resolution": [D(1)]})
    with app.test_request_context():
        html = render_template_string(
            '{% from "_charts.html" import chart %}'
            '{{ chart(c, "sla", "SLA breaches by month", "2 breaches in Feb 2027", '
            'labels={"response": "Response"}) }}',
            c=chart,
        )
    assert html.startswith('<figure class="chart">')
    assert 'role="img" aria-labelledby="sla-title sla-desc"' in html
    assert '<title id="sla-title">SLA breaches by month</title>' in html
    assert '<desc id="sla-desc">2 breaches in Feb 2027</desc>' in html
    assert 'class="series-response"><title>Feb, response: 1</title></rect>' in html
    assert '<span class="key series-response">Response</span>' in html
    assert '<span class="key series-resolution">Resolution</span>' in html
    assert "style" not in html
