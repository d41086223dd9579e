"""Charts of the HTML reports as inline SVG strings.

Each function takes plain numbers and labels and returns one ``<svg>`` element as
text, so a report is one self-contained file: no chart library to load, no network,
no script needed to draw it, and it opens the same from a file, a web server or an
e-mail attachment. Output is deterministic (coordinates with one decimal, values with
fixed formats) so the same data gives the same bytes, and every label is escaped.

In a Jinja template with autoescape on, insert a chart with ``{{ chart | safe }}``:
the SVG is built here from escaped text, it is the one piece of markup the template
does not escape itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
import pandas as pd

# Severity colours, darkest for the strongest (ColorBrewer "Reds", 5 classes, which
# stays readable in greyscale print); a mitigating rule is green: it lowers the risk.
SEVERITY_COLOURS = {"critical": "#a50f15", "high": "#de2d26", "medium": "#fb6a4a", "low": "#fcae91",
                    "mitigating": "#1a9850"}
LANE_COLOURS = {"red": "#c62828", "yellow": "#f9a825", "green": "#2e7d32"}
DEFAULT_COLOUR = "#4a6fa5"
# The heat map's scale runs from the first colour (rate 0) to the second (rate 1),
# ColorBrewer "Blues" ends; a cell with no data (NaN) is grey and hatched-free.
HEAT_LOW, HEAT_HIGH = (247, 251, 255), (8, 48, 107)
NO_DATA_COLOUR = "#e0e0e0"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
# Pixels per character of a 12 px sans-serif label: enough to size label columns
# without measuring text (a browser is not at hand when the page is written).
CHAR_WIDTH = 7.6


def _num(value: float) -> str:
    """One coordinate, with one decimal and no trailing ``.0``: the same bytes for the
    same chart on every platform."""
    text = f"{float(value):.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(value) -> str:
    """A label as SVG text: escaped, quotes included (labels also go in attributes)."""
    return escape(str(value), quote=True)


def _clipped(label: str, chars: int) -> str:
    """``label`` cut to ``chars`` characters with an ellipsis (the full text is kept in
    the element's ``<title>`` tooltip)."""
    return label if len(label) <= chars else label[: max(chars - 1, 1)] + "\u2026"


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    """The ``<svg>`` wrapper: a viewBox so the chart scales to its container, and the
    title as the accessible name and tooltip."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {_num(width)} '
            f'{_num(height)}" width="{_num(width)}" height="{_num(height)}" aria-label="{_text(title)}" {FONT}>'
            f"<title>{_text(title)}</title>" + "".join(body) + "</svg>")


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def histogram(values, bins: int = 20, value_range: tuple[float, float] = (0.0, 1.0),
              marks: Mapping[str, float] | None = None, title: str = "Risk distribution",
              x_label: str = "risk score", width: int = 640, height: int = 240) -> str:
    """A histogram of ``values`` (the risk distribution of a batch).

    Parameters
    ----------
    values : array-like of float
        NaN values are left out (a row with no score has no place on the axis).
    bins : int
        Equal-width bins over ``value_range``.
    value_range : (float, float)
        The axis; values outside it fall into the edge bins, so no row is lost from
        the counts an analyst compares with the lanes.
    marks : mapping of str to float, optional
        Vertical marks with their labels, e.g. the lane thresholds
        ``{"yellow 0.30": 0.3, "red 0.60": 0.6}``.
    title, x_label : str
    width, height : int
        Size in pixels of the drawing (it scales down with its container).

    Returns
    -------
    str
        One ``<svg>`` element with one ``<rect class="bar">`` per bin, each with a
        ``<title>`` giving its range and count.
    """
    low, high = value_range
    data = pd.to_numeric(pd.Series(values, dtype="float64"), errors="coerce").dropna().to_numpy()
    counts, edges = np.histogram(np.clip(data, low, high), bins=bins, range=(low, high))
    left, right, top, bottom = 60, 12, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    tallest = max(int(counts.max()) if len(counts) else 0, 1)
    step = plot_w / bins
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
            f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{tallest:,}</text>',
            f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>']
    for i, count in enumerate(counts):
        bar_h = plot_h * int(count) / tallest
        x = left + i * step
        body.append(f'<rect class="bar" x="{_num(x + 1)}" y="{_num(top + plot_h - bar_h)}" '
                    f'width="{_num(max(step - 2, 1))}" height="{_num(bar_h)}" fill="{DEFAULT_COLOUR}">'
                    f"<title>{edges[i]:.2f}\u2013{edges[i + 1]:.2f}: {int(count):,} rows</title></rect>")
    for tick in np.linspace(low, high, 6):
        x = left + plot_w * (tick - low) / (high - low)
        body.append(f'<text x="{_num(x)}" y="{top + plot_h + 14}" text-anchor="middle">{tick:.1f}</text>')
    for label, at in sorted((marks or {}).items(), key=lambda item: item[1]):
        x = left + plot_w * (min(max(at, low), high) - low) / (high - low)
        body.append(f'<line class="mark" x1="{_num(x)}" y1="{top - 4}" x2="{_num(x)}" y2="{top + plot_h}" '
                    f'stroke="#222" stroke-dasharray="4 3"/>'
                    f'<text x="{_num(x + 3)}" y="{top - 8}">{_text(label)}</text>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle">{_text(x_label)}</text>')
    return _svg(width, height, title, body)


# Over 60 lines for its numpydoc parameters; the drawing itself is about 35 lines.
def bar_chart(labels: Sequence[str], values: Sequence[float], categories: Sequence[str] | None = None,
              colours: Mapping[str, str] | None = None, title: str = "Hits per rule",
              value_format: str = "{:,.0f}", label_chars: int = 44, width: int = 760,
              bar_height: int = 18) -> str:
    """A horizontal bar chart, one bar per label in the order given (hits per rule).

    Parameters
    ----------
    labels : sequence of str
        One per bar, written left of it; cut to ``label_chars`` characters, the full
        label stays in the bar's tooltip.
    values : sequence of float
        Bar lengths, scaled to the largest; written at the end of each bar.
    categories : sequence of str, optional
        One per bar (a rule's severity); picks its colour in ``colours``.
    colours : mapping of str to str, optional
        Category to CSS colour; :data:`SEVERITY_COLOURS` by default. An unknown
        category gets :data:`DEFAULT_COLOUR`.
    title : str
    value_format : str
        :meth:`str.format` pattern of the value written after a bar.
    label_chars : int
    width, bar_height : int

    Returns
    -------
    str
        One ``<svg>`` element with one ``<rect class="bar">`` per label and, with
        ``categories``, a legend of the colours used (``<rect class="legend">``).
    """
    labels = [str(label) for label in labels]
    values = [float(value) for value in values]
    if len(values) != len(labels) or (categories is not None and len(categories) != len(labels)):
        raise ValueError(f"bar_chart needs one value (and category) per label: {len(labels)} labels, "
                         f"{len(values)} values, {len(categories) if categories is not None else 0} categories")
    colours = SEVERITY_COLOURS if colours is None else colours
    shown = [_clipped(label, label_chars) for label in labels]
    left = 8 + CHAR_WIDTH * max((len(label) for label in shown), default=0)
    value_room = 8 + CHAR_WIDTH * max((len(value_format.format(v)) for v in values), default=1)
    plot_w = max(width - left - value_room - 8, 40)
    largest = max(max(values, default=0.0), 1e-12)
    pitch = bar_height + 6
    legend = [kind for kind in colours if categories is not None and kind in set(categories)]
    height = 8 + pitch * len(labels) + 4 + (24 if legend else 0)
    body = []
    x = left
    for kind in legend:  # which colour is which category, in the palette's order
        body.append(f'<rect class="legend" x="{_num(x)}" y="{_num(height - 18)}" width="12" height="12" '
                    f'fill="{_text(colours[kind])}"/>'
                    f'<text x="{_num(x + 16)}" y="{_num(height - 8)}">{_text(kind)}</text>')
        x += 16 + CHAR_WIDTH * len(kind) + 14
    for i, (label, full, value) in enumerate(zip(shown, labels, values)):
        y = 8 + i * pitch
        fill = colours.get(categories[i], DEFAULT_COLOUR) if categories is not None else DEFAULT_COLOUR
        length = plot_w * max(value, 0.0) / largest
        written = value_format.format(value)
        kind = f" ({_text(categories[i])})" if categories is not None else ""
        body.append(f'<text x="{_num(left - 6)}" y="{_num(y + bar_height * 0.72)}" text-anchor="end">'
                    f"{_text(label)}</text>"
                    f'<rect class="bar" x="{_num(left)}" y="{_num(y)}" width="{_num(max(length, 1))}" '
                    f'height="{bar_height}" fill="{_text(fill)}"><title>{_text(full)}{kind}: {_text(written)}'
                    f"</title></rect>"
                    f'<text x="{_num(left + length + 4)}" y="{_num(y + bar_height * 0.72)}">{_text(written)}</text>')
    return _svg(width, height, title, body)


def heat_colour(rate: float) -> str:
    """The heat map's colour of a rate in [0, 1] (clipped), NaN grey: a linear blend
    between :data:`HEAT_LOW` and :data:`HEAT_HIGH`."""
    if rate is None or not np.isfinite(rate):
        return NO_DATA_COLOUR
    share = min(max(float(rate), 0.0), 1.0)
    red, green, blue = (round(lo + (hi - lo) * share) for lo, hi in zip(HEAT_LOW, HEAT_HIGH))
    return f"#{red:02x}{green:02x}{blue:02x}"


def heat_map(rates: pd.DataFrame, title: str = "Hit rate", counts: pd.DataFrame | None = None,
             label_chars: int = 32, cell_width: int = 56, cell_height: int = 22) -> str:
    """A heat map of rates in [0, 1]: one cell per row and column of ``rates`` (hit
    rate per rule per month), with a legend of the scale.

    Parameters
    ----------
    rates : DataFrame
        Index: the row labels (rules); columns: the column labels (months), in the
        order drawn. NaN is "no data" and drawn grey, apart from a rate of 0.
    title : str
    counts : DataFrame, optional
        Same shape: the number behind each rate (e.g. inspections), added to the
        cell's tooltip so a high rate on two cases is not read like one on two hundred.
    label_chars : int
        Row labels are cut to this many characters (the tooltip keeps them whole).
    cell_width, cell_height : int

    Returns
    -------
    str
        One ``<svg>`` element with one ``<rect class="cell">`` per row and column,
        each filled by :func:`heat_colour` and with a ``<title>`` tooltip
        ``row · column: rate``.
    """
    values = rates.to_numpy(dtype="float64")
    rows = [str(label) for label in rates.index]
    columns = [str(label) for label in rates.columns]
    shown = [_clipped(label, label_chars) for label in rows]
    left = 8 + CHAR_WIDTH * max((len(label) for label in shown), default=0)
    top = 30
    legend_y = top + cell_height * len(rows) + 12
    width = max(left + cell_width * len(columns) + 8, left + 5 * 40 + 120)
    height = legend_y + 34
    body = []
    for j, column in enumerate(columns):
        x = left + j * cell_width + cell_width / 2
        body.append(f'<text x="{_num(x)}" y="{top - 8}" text-anchor="middle">{_text(_clipped(column, 9))}'
                    f"<title>{_text(column)}</title></text>")
    for i, (row, full) in enumerate(zip(shown, rows)):
        y = top + i * cell_height
        body.append(f'<text x="{_num(left - 6)}" y="{_num(y + cell_height * 0.68)}" text-anchor="end">'
                    f"{_text(row)}<title>{_text(full)}</title></text>")
        for j, column in enumerate(columns):
            rate = values[i, j]
            written = "no data" if not np.isfinite(rate) else _percent(rate)
            behind = f" of {counts.iat[i, j]:,}" if counts is not None and np.isfinite(rate) else ""
            body.append(f'<rect class="cell" x="{_num(left + j * cell_width)}" y="{_num(y)}" '
                        f'width="{cell_width - 1}" height="{cell_height - 1}" fill="{heat_colour(rate)}">'
                        f"<title>{_text(full)} \u00b7 {_text(column)}: {written}{behind}</title></rect>")
    body.append(f'<text x="{left}" y="{legend_y + 14}">0%</text>')
    for k, share in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
        body.append(f'<rect class="legend" x="{_num(left + 24 + k * 40)}" y="{legend_y}" width="40" height="20" '
                    f'fill="{heat_colour(share)}"><title>{_percent(share)}</title></rect>')
    body.append(f'<text x="{left + 24 + 5 * 40 + 4}" y="{legend_y + 14}">100%</text>'
                f'<rect x="{left + 24 + 5 * 40 + 44}" y="{legend_y}" width="20" height="20" '
                f'fill="{NO_DATA_COLOUR}"/><text x="{left + 24 + 5 * 40 + 68}" y="{legend_y + 14}">no data</text>')
    return _svg(width, height, title, body)


def line_chart(x, y, title: str = "Precision against budget", x_label: str = "budget (% of rows)",
               y_label: str = "precision", step: bool = True, y_range: tuple[float, float] = (0.0, 1.0),
               y_format: str = "{:.0%}", width: int = 640, height: int = 260) -> str:
    """A line (or step) chart of ``y`` against ``x`` (precision against budget).

    Parameters
    ----------
    x, y : array-like of float
        Same length; drawn in order of ``x``. Pairs with a NaN are left out.
    title, x_label, y_label : str
    step : bool
        Draw a step (the value holds until the next ``x``, as a precision does between
        two budgets) rather than straight segments.
    y_range : (float, float)
        The vertical axis.
    y_format : str
        :meth:`str.format` pattern of the axis ticks and point tooltips.
    width, height : int

    Returns
    -------
    str
        One ``<svg>`` element with one ``<path class="line">`` and one
        ``<circle class="point">`` per point, each with its values as tooltip.
    """
    frame = pd.DataFrame({"x": pd.to_numeric(pd.Series(x, dtype="float64"), errors="coerce"),
                          "y": pd.to_numeric(pd.Series(y, dtype="float64"), errors="coerce")}).dropna()
    frame = frame.sort_values("x", kind="stable")
    left, right, top, bottom = 52, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    x_low = float(frame["x"].min()) if len(frame) else 0.0
    x_high = float(frame["x"].max()) if len(frame) else 1.0
    x_high = x_high if x_high > x_low else x_low + 1.0
    y_low, y_high = y_range
    px = left + plot_w * (frame["x"].to_numpy() - x_low) / (x_high - x_low)
    py = top + plot_h * (1 - (np.clip(frame["y"].to_numpy(), y_low, y_high) - y_low) / (y_high - y_low))
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>']
    for tick in np.linspace(y_low, y_high, 5):
        ty = top + plot_h * (1 - (tick - y_low) / (y_high - y_low))
        body.append(f'<line x1="{left}" y1="{_num(ty)}" x2="{left + plot_w}" y2="{_num(ty)}" stroke="#eee"/>'
                    f'<text x="{left - 6}" y="{_num(ty + 4)}" text-anchor="end">{_text(y_format.format(tick))}</text>')
    for tick in np.linspace(x_low, x_high, 6):
        tx = left + plot_w * (tick - x_low) / (x_high - x_low)
        body.append(f'<text x="{_num(tx)}" y="{top + plot_h + 14}" text-anchor="middle">{tick:g}</text>')
    if len(px):
        points = [(px[0], py[0])]
        for i in range(1, len(px)):
            if step:
                points.append((px[i], py[i - 1]))
            points.append((px[i], py[i]))
        path = "M" + " L".join(f"{_num(a)} {_num(b)}" for a, b in points)
        body.append(f'<path class="line" d="{path}" fill="none" stroke="{DEFAULT_COLOUR}" stroke-width="2"/>')
        for a, b, xv, yv in zip(px, py, frame["x"], frame["y"]):
            body.append(f'<circle class="point" cx="{_num(a)}" cy="{_num(b)}" r="3" fill="{DEFAULT_COLOUR}">'
                        f"<title>{_text(x_label)} {xv:g}: {_text(y_format.format(yv))}</title></circle>")
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">{_text(x_label)}</text>'
                f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
                f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{_text(y_label)}</text>')
    return _svg(width, height, title, body)
