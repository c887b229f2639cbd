# bench/svg.py: a grouped bar chart written as plain SVG (no matplotlib on this
# machine), used for the benchmark report's charts.
import math
from xml.sax.saxutils import escape

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
           "#edc948", "#9c755f"]


def grouped_bars(path, title, groups, series, values, ylabel, ref=None, ymax=None,
                 fmt="%.2f", log=False, ymin=10.0):
    """groups: x labels; series: bar names; values[s][g]: number or None.
    ref: draw a dashed horizontal line at this y (e.g. 1.0 for ratios).
    Bars taller than ymax are clipped and labelled with their value.
    log: a logarithmic y axis from ymin to ymax (ticks at 1-3-10 steps)."""
    w_group = 26 * len(series) + 24
    left, right, top, bottom = 70, 20, 50, 90
    width = left + right + w_group * len(groups)
    per_row = max(1, (width - left) // 140)  # legend entries per line
    height = 380
    ph = height - top - bottom
    vals = [v for s in values for v in s if v is not None]
    top_v = ymax if ymax else (max(vals + [ref or 0]) * 1.1 if vals else 1.0)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height + 20 * (
               (len(series) + per_row - 1) // per_row)),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>'
           % (left, escape(title))]

    lo = ymin

    def y(v):
        if log:
            v = min(max(v, lo), top_v)
            return top + ph - ph * math.log(v / lo) / math.log(top_v / lo)
        return top + ph - ph * min(v, top_v) / top_v

    ticks = [top_v * i / 5 for i in range(6)]
    if log:
        ticks, t = [], lo
        while t <= top_v * 1.0001:
            ticks += [t] + ([3 * t] if 3 * t <= top_v * 1.0001 else [])
            t *= 10
    for v in ticks:  # grid and y ticks
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>'
                   % (left, width - right, y(v), y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (left - 4, y(v) + 4, fmt % v))
    out.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">'
               '%s</text>' % (top + ph // 2, top + ph // 2, escape(ylabel)))
    for gi, g in enumerate(groups):
        x0 = left + gi * w_group + 12
        for si, _s in enumerate(series):
            v = values[si][gi]
            if v is None:
                continue
            x = x0 + si * 26
            out.append('<rect x="%d" y="%.1f" width="22" height="%.1f" fill="%s">'
                       '<title>%s %s: %s</title></rect>'
                       % (x, y(v), top + ph - y(v), PALETTE[si % len(PALETTE)],
                          escape(series[si]), escape(g), fmt % v))
            if v > top_v:
                out.append('<text x="%d" y="%.1f" font-size="9" text-anchor="middle">'
                           '%s</text>' % (x + 11, top - 4, fmt % v))
        out.append('<text x="%d" y="%d" text-anchor="end" transform="rotate(-35 %d %d)">'
                   '%s</text>' % (x0 + w_group // 2, top + ph + 16, x0 + w_group // 2,
                                  top + ph + 16, escape(g)))
    if ref is not None:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="black" '
                   'stroke-dasharray="4 3"/>' % (left, width - right, y(ref), y(ref)))
    for si, s in enumerate(series):  # legend
        lx = left + (si % per_row) * 140
        ly = height + 20 * (si // per_row) - 6
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                   % (lx, ly - 10, PALETTE[si % len(PALETTE)]))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 16, ly, escape(s)))
    out.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
