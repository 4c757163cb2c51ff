"""The monitor's page: one HTML file that renders offline (inline CSS, figures as data: URIs, no script,
no link outside it), and the figures as PNG files beside it, drawn from monitor.json's numbers alone."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

COLOURS = {"ok": "#2e7d32", "drifted": "#ef6c00", "degraded": "#c62828"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222}
h1{margin-bottom:.2em} .state{display:inline-block;padding:.2em .7em;border-radius:4px;color:#fff;font-weight:600}
table{border-collapse:collapse;margin:.6em 0 1.4em} th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums} tr.bad td{background:#fdecea}
img{max-width:100%;border:1px solid #eee;margin:.4em 0} .muted{color:#666}
"""


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.2f}%"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def figures(result: dict[str, Any], reference_out: pd.DataFrame, current_out: pd.DataFrame) -> dict[str, bytes]:
    """features.png (each feature's drift score: statistic over threshold, ≥ 1 drifts), tasks.png (realised
    change vs promotion with its interval and the tolerance), predictions.png (reference vs arriving)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    cols = [c for c in result["features"]["columns"] if c["statistic"] is not None]
    if cols:
        scores = [drift_score(c) for c in cols]
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(cols) + 1.2))
        ax.barh([c["column"] for c in cols], scores, color=["#c62828" if c["drifted"] else "#90a4ae" for c in cols])
        ax.axvline(1.0, color="#333", lw=1, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("drift score (distance / threshold, or threshold / p); ≥ 1 drifts")
        ax.invert_yaxis()
        out["features.png"] = _png(fig)

    judged = {t: h for t, h in result["tasks"].items() if h.get("change") is not None}
    if judged:
        fig, ax = plt.subplots(figsize=(7, 0.5 * len(judged) + 1.2))
        for i, h in enumerate(judged.values()):
            low, high = h.get("change_ci_low"), h.get("change_ci_high")
            err = [[100 * (h["change"] - low)], [100 * (high - h["change"])]] if low is not None and high is not None \
                else None
            colour = COLOURS["degraded"] if h["verdict"] == "worse" else COLOURS["ok"]
            ax.errorbar([100 * h["change"]], [i], xerr=err, fmt="o", color=colour, capsize=4)
        ax.set_yticks(range(len(judged)), list(judged))
        ax.axvline(0, color="#333", lw=1)
        ax.set_xlabel("realised vs metric at promotion (%, positive = better), with interval")
        ax.invert_yaxis()
        out["tasks.png"] = _png(fig)

    numeric = [c for c in current_out.columns if _is_number(current_out[c])][:8]
    if numeric:
        fig, axes = plt.subplots(1, len(numeric), figsize=(3.2 * len(numeric), 2.6), squeeze=False)
        for ax, col in zip(axes[0], numeric):
            ref, cur = reference_out[col].dropna().astype(float), current_out[col].dropna().astype(float)
            both = [v for v in (ref, cur) if len(v)]
            low, high = min(float(v.min()) for v in both), max(float(v.max()) for v in both)
            bins = 30 if high > low else 1
            ax.hist(ref, bins=bins, range=(low, high), density=True, alpha=0.5, label="reference")
            ax.hist(cur, bins=bins, range=(low, high), density=True, alpha=0.5, label="arriving")
            ax.set_title(col, fontsize=9)
        axes[0][0].legend(fontsize=8)
        out["predictions.png"] = _png(fig)
    return out


def _is_number(series: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def drift_score(column: dict[str, Any]) -> float:
    """One scale for both kinds of test: ≥ 1 means drift."""
    stat, threshold = column["statistic"], column["threshold"]
    if column["test"] in ("ks", "chi2"):
        return threshold / max(stat, 1e-300)
    return stat / threshold if threshold else math.inf


def html_page(result: dict[str, Any], pngs: dict[str, bytes]) -> str:
    """The whole report as one self-contained page."""
    e = html.escape
    w, state = result["window"], result["verdict"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>monitor {e(result['model_name'])} v{e(result['version'])}: {e(state)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(result['model_name'])} v{e(result['version'])} (champion) "
        f"<span class='state' style='background:{COLOURS.get(state, '#555')}'>{e(state)}</span></h1>",
        f"<p class='muted'>checked {e(result['checked_at'])} · arriving rows: {e(w['origin'])} "
        f"({w['arriving_rows']} rows) · reference: the newest {w['reference_rows']} rows up to the champion's "
        f"last day ({e(str(w['champion_end']))}) · exit code {result['exit_code']}</p>",
        "<h2>Verdict</h2><ul>", *(f"<li>{e(r)}</li>" for r in result["reasons"]), "</ul>",
    ]
    if result.get("notes"):
        parts += ["<ul class='muted'>", *(f"<li>{e(n)}</li>" for n in result["notes"]), "</ul>"]
    parts += ["<h2>Tasks: realised metric vs promotion</h2>", "<table><tr><th>task</th><th>metric</th>"
              "<th>labelled rows</th><th>at promotion</th><th>realised</th><th>change [interval]</th><th>verdict</th>"
              "</tr>"]
    for task, h in result["tasks"].items():
        change = "—" if h.get("change") is None else \
            f"{_pct(h['change'])} [{_pct(h.get('change_ci_low'))}, {_pct(h.get('change_ci_high'))}]"
        verdict = h["verdict"] if h.get("change") is not None else f"not judged: {h.get('why_not_judged', '')}"
        arrow = "↑" if h["higher_is_better"] else "↓"
        parts.append(f"<tr class='{'bad' if h['verdict'] == 'worse' else ''}'><td>{e(task)}</td>"
                     f"<td>{e(h['metric'])} {arrow}</td><td class='num'>{h['labelled']}</td>"
                     f"<td class='num'>{_fmt(h['recorded'])}</td><td class='num'>{_fmt(h.get('realised'))}</td>"
                     f"<td class='num'>{e(change)}</td><td>{e(verdict)}</td></tr>")
    parts.append("</table>")
    parts += _image(pngs, "tasks.png", "realised change per task")
    f = result["features"]
    parts += [f"<h2>Input drift: {100 * f['share']:.0f}% of features drifted (threshold {100 * f['threshold']:.0f}%)"
              "</h2>", *_drift_table(f["columns"])]
    parts += _image(pngs, "features.png", "drift score per feature")
    parts += ["<h2>Prediction drift (the champion's outputs, reference vs arriving)</h2>",
              *_drift_table(result["predictions"])]
    parts += _image(pngs, "predictions.png", "prediction distributions")
    policy = ", ".join(f"{k}={v}" for k, v in result["policy"].items())
    parts += [f"<p class='muted'>Rules: Evidently's default drift algorithm (KS / chi² p-values up to "
              f"small_sample reference rows, normed Wasserstein / Jensen-Shannon distances above); a task is "
              f"degraded when its whole interval lies below minus its tolerance. Policy (params.yaml monitor): "
              f"{e(policy)}.</p>", "</body></html>"]
    return "\n".join(parts)


def _drift_table(columns: list[dict[str, Any]]) -> list[str]:
    rows = ["<table><tr><th>column</th><th>kind</th><th>test</th><th>statistic</th><th>threshold</th>"
            "<th>drift</th><th>rows (reference / arriving)</th></tr>"]
    for c in columns:
        drift = "yes" if c["drifted"] else ("not tested: " + c["note"] if c["test"] == "none" else "no")
        rows.append(f"<tr class='{'bad' if c['drifted'] else ''}'><td>{html.escape(c['column'])}</td>"
                    f"<td>{c['kind']}</td><td>{c['test']}</td><td class='num'>{_fmt(c['statistic'])}</td>"
                    f"<td class='num'>{_fmt(c['threshold'])}</td><td>{html.escape(drift)}</td>"
                    f"<td class='num'>{c['reference_rows']} / {c['current_rows']}</td></tr>")
    return [*rows, "</table>"]


def _image(pngs: dict[str, bytes], name: str, alt: str) -> list[str]:
    if name not in pngs:
        return []
    data = base64.b64encode(pngs[name]).decode("ascii")
    return [f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"]
