"""Small server-side SVG charts for the "my model" page: no CDN, no JavaScript, no
matplotlib import in the request. Every text is escaped; the result is safe to inline."""

from __future__ import annotations

import re
from html import escape

from django.utils.safestring import SafeString, mark_safe

W, H = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 40, 48
AXIS = "#9aa0aa"
GRID = "#2a2f3a"
MODEL = "#5aa9ff"
BASE = "#ffc857"
UP = "#4cc38a"
DOWN = "#ff6b6b"


def _svg(body: list[str], label: str, width: int = W, height: int = H) -> SafeString:
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="12">' + "".join(body) + "</svg>"
    )


def _axes(x_max: float, x_label: str, y_label: str, x_ticks: list[float]) -> list[str]:
    """Frame, grid at 0.2 steps on y (0-1), the given x ticks, and both axis titles."""
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = []
    for i in range(6):
        v = i / 5
        y = TOP + plot_h * (1 - v)
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">{v:.1f}</text>'
        )
    for t in x_ticks:
        x = LEFT + plot_w * (t / x_max if x_max else 0)
        out.append(
            f'<text x="{x:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle" fill="{AXIS}">'
            f"{t:g}</text>"
        )
    out.append(
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" stroke="{AXIS}"/>'
    )
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{AXIS}"/>')
    out.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{H - 8}" text-anchor="middle" fill="{AXIS}">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text transform="translate(14 {TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{AXIS}">{escape(y_label)}</text>'
    )
    return out


def _xy(x: float, y: float, x_min: float, x_max: float) -> tuple[float, float]:
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    span = (x_max - x_min) or 1
    return LEFT + plot_w * (x - x_min) / span, TOP + plot_h * (1 - min(max(y, 0.0), 1.0))


def _nice_ticks(x_max: float, count: int = 6) -> list[float]:
    if x_max <= 0:
        return [0]
    raw = x_max / count
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10**9) if s >= raw)
    return [float(t) for t in range(0, int(x_max) + 1, step)]


def _legend(entries: list[tuple[str, str, bool]]) -> list[str]:
    # Above the plot area, so it never hides a point near 1.0.
    out, x, y = [], LEFT, 14
    for text, color, dashed in entries:
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(
            f'<line x1="{x}" x2="{x + 22}" y1="{y}" y2="{y}" stroke="{color}" '
            f'stroke-width="3"{dash}/>'
        )
        out.append(f'<text x="{x + 28}" y="{y + 4}" fill="#e8e8ea">{escape(text)}</text>')
        x += 40 + 7 * len(text)
    return out


def learning_curve_svg(runs: list) -> SafeString | None:
    """Cross-validated average precision against labels used, one point per finished run
    (oldest first), with the base rate: what a model guessing at random would score."""
    points = [
        (r.n_labels, r.metrics["average_precision"], r.metrics.get("base_rate"))
        for r in runs
        if r.metrics.get("average_precision") is not None
    ]
    if not points:
        return None
    x_max = max(p[0] for p in points) * 1.05 or 1
    body = _axes(x_max, "labels used for training", "average precision", _nice_ticks(x_max))
    ap = [_xy(n, a, 0, x_max) for n, a, _ in points]
    base = [_xy(n, b, 0, x_max) for n, _, b in points if b is not None]
    if len(base) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in base)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{BASE}" stroke-width="2" '
            'stroke-dasharray="6 4"/>'
        )
    if len(ap) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in ap)
        body.append(f'<polyline points="{path}" fill="none" stroke="{MODEL}" stroke-width="3"/>')
    for (x, y), (n, a, _) in zip(ap, points, strict=True):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{MODEL}">'
            f"<title>{n} labels: AP {a:.3f}</title></circle>"
        )
    last_x, last_y = ap[-1]
    body.append(
        f'<text x="{min(last_x, W - RIGHT - 30):.1f}" y="{last_y - 10:.1f}" '
        f'text-anchor="middle" fill="#e8e8ea" font-weight="700">{points[-1][1]:.3f}</text>'
    )
    body += _legend([("your model", MODEL, False), ("base rate (random guess)", BASE, True)])
    return _svg(body, "Learning curve: average precision against the number of labels")


def pr_curve_svg(curve: dict, base_rate: float | None) -> SafeString | None:
    """Precision against recall of the latest run's out-of-fold predictions."""
    precision, recall = curve.get("precision") or [], curve.get("recall") or []
    if len(precision) < 2:
        return None
    body = _axes(1.0, "recall (share of your likes found)", "precision", [0, 0.2, 0.4, 0.6, 0.8, 1])
    # Drawn as steps in the curve's own order (as scikit-learn's display does): sorting
    # points that share a recall would draw a zigzag.
    steps = []
    for i, (r, p) in enumerate(zip(recall, precision, strict=True)):
        if i:
            steps.append(_xy(recall[i - 1], p, 0, 1))
        steps.append(_xy(r, p, 0, 1))
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in steps)
    # Area under the curve, lightly filled: its size is (roughly) the average precision.
    x_first, _ = steps[0]
    x_last, _ = steps[-1]
    _, y_base = _xy(0, 0, 0, 1)
    body.append(
        f'<polygon points="{x_first:.1f},{y_base:.1f} {path} {x_last:.1f},{y_base:.1f}" '
        f'fill="{MODEL}" fill-opacity="0.15"/>'
    )
    body.append(f'<polyline points="{path}" fill="none" stroke="{MODEL}" stroke-width="3"/>')
    entries = [("your model", MODEL, False)]
    if base_rate is not None:
        _, y = _xy(0, base_rate, 0, 1)
        body.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{BASE}" '
            'stroke-width="2" stroke-dasharray="6 4"/>'
        )
        entries.append((f"base rate {base_rate:.2f}", BASE, True))
    body += _legend(entries)
    return _svg(body, "Precision-recall curve of the latest training run")


def feature_label(name: str) -> str:
    """``genres__Action`` / ``synopsis:pirate`` / ``num_members`` -> readable words."""
    text = re.sub(r"(__|[:=|])", " · ", str(name)).replace("_", " ")
    return re.sub(r"\s+", " ", text).strip()


def weights_svg(items: list, *, positive: bool) -> SafeString | None:
    """Horizontal bars: the features that push P(like) up (or down) the most."""
    items = [(feature_label(n), abs(float(w))) for n, w in items if float(w) != 0]
    if not items:
        return None
    width, row, label_w = 420, 26, 170
    height = row * len(items) + 8
    biggest = max(w for _, w in items) or 1
    color = UP if positive else DOWN
    body = []
    for i, (name, weight) in enumerate(items):
        y = 4 + i * row
        bar = (width - label_w - 50) * weight / biggest
        short = name if len(name) <= 26 else name[:25] + "…"
        body.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="#e8e8ea">'
            f"<title>{escape(name)}</title>{escape(short)}</text>"
        )
        body.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{bar:.1f}" height="{row - 10}" rx="3" '
            f'fill="{color}"/>'
        )
        body.append(
            f'<text x="{label_w + bar + 6:.1f}" y="{y + 16}" fill="{AXIS}">{weight:.2f}</text>'
        )
    direction = "towards" if positive else "away from"
    return _svg(body, f"Features that push the model {direction} a like", width, height)
