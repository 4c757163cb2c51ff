"""Optuna's study plots as PNG files (matplotlib: works offline, no plotly needed)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


def save_study_plots(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Optimisation history, intermediate values, parallel coordinates and (with >= 2 complete
    trials) parameter importances; a plot Optuna cannot draw for this study is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots = {
        "optimization_history": ovm.plot_optimization_history,
        "intermediate_values": ovm.plot_intermediate_values,
        "parallel_coordinate": ovm.plot_parallel_coordinate,
    }
    if len(complete) >= 2:
        plots["param_importances"] = ovm.plot_param_importances
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, plot in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                warnings.simplefilter("ignore", UserWarning)  # few-trial notes on importances and axes
                ax = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. importances on a constant objective
            warnings.warn(f"search: skipped the {name} plot: {err}", stacklevel=2)
            continue
        fig: Any = (ax.flat[0] if hasattr(ax, "flat") else ax).get_figure()  # a Figure: optuna draws on one
        fig.set_size_inches(10, 6)
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written
