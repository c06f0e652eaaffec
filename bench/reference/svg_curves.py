"""Learning curves as plain SVG (no plotting library on the reference machine): normalized score against step.

write(path, title, series): series is a list of (label, runs), runs a list of (steps, scores) per seed; each run is a
thin line, each series' mean over its runs (at the steps all of them share) a thick one, in the series' colour.
Written to a temporary name and renamed.
"""
import os

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def write(path, title, series):
    w, h, left, bottom = 640, 360, 50, 30
    runs = [r for _, rs in series for r in rs]
    xmax = max(max(s) for s, _ in runs)
    ymax = max(110, max(max(v) for _, v in runs))
    ymin = min(0, min(min(v) for _, v in runs))
    X = lambda s: left + (w - left - 10) * s / xmax
    Y = lambda v: (h - bottom) - (h - bottom - 20) * (v - ymin) / (ymax - ymin)
    line = lambda pts, color, width, opacity: (f'<polyline fill="none" stroke="{color}" stroke-width="{width}" stroke-opacity="{opacity}" points="'
                                               + " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v in pts) + '"/>')
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>', f'<text x="{left}" y="14">{title}</text>']
    for v in range(int(ymin) // 20 * 20, int(ymax) + 1, 20):
        parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#ddd"/><text x="5" y="{Y(v) + 4:.1f}">{v}</text>')
    for k in range(11):
        parts.append(f'<text x="{X(xmax * k / 10) - 12:.1f}" y="{h - 10}">{xmax * k / 10 / 1e3:.0f}k</text>')
    for i, (label, rs) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        for steps, scores in rs:
            parts.append(line(list(zip(steps, scores)), color, 0.8, 0.35))
        shared = sorted(set.intersection(*(set(s) for s, _ in rs)))
        means = [sum(dict(zip(s, v))[x] for s, v in rs) / len(rs) for x in shared]
        parts.append(line(list(zip(shared, means)), color, 2, 1))
        parts.append(f'<text x="{w - 200}" y="{30 + 14 * i}" fill="{color}">{label} (mean of {len(rs)})</text>')
    parts.append("</svg>")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(parts))
    os.replace(path + ".tmp", path)
