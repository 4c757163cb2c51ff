"""The rule that picks what serves a task, on constructed validation predictions with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from mtlops.models.served import ModelSpecError, ServedBy
from mtlops.schema import TaskConfig
from mtlops.serving.choice import blend_weights, candidates, choose

AMOUNT = TaskConfig(name="amount", column="amount", type="regression", metric="mae")
CHURN = TaskConfig(name="churn", column="churn", type="binary", metric="roc_auc")
N = 20_000


def _rows(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=N) * 10
    return rng, y, np.ones(N, bool)


def _pick(task, y, mask, shared, single=None, gbdt=None, band=0.5, steps=10, prefer="shared"):
    """The choice; `prefer: shared` unless a test says otherwise (the tests of `prefer: blend` are last)."""
    return choose(task, y, mask, candidates(task, shared, single, gbdt, steps), band, prefer=prefer)


def test_the_blend_grid_lies_strictly_between_the_network_and_lightgbm():
    assert blend_weights(10) == [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert blend_weights(4) == [0.75, 0.5, 0.25] and blend_weights(1) == []


@pytest.mark.parametrize("prefer", ["shared", "blend"])
def test_lightgbm_clearly_better_on_validation_serves(prefer):
    rng, y, mask = _rows()
    error = rng.normal(scale=2.0, size=N)
    gbdt = y + error
    shared = y + 2 * error + rng.normal(scale=1.0, size=N)  # the network errs where LightGBM does, and more
    chosen = _pick(AMOUNT, y, mask, shared, gbdt=gbdt, band=1.0, prefer=prefer)  # every blend ~10 % behind
    assert chosen["kind"] == "gbdt" and chosen["weight"] is None
    assert chosen["gain_val"] == pytest.approx(100 * (1 - 1 / np.sqrt(4 + 0.25)), abs=2)  # MAE ∝ the error's scale
    by_kind = {(c["kind"], c["weight"]): c for c in chosen["candidates"]}
    assert by_kind[("shared", None)]["gain"] == 0 and len(by_kind) == 2 + 9
    assert all(c["gain"] < chosen["gain_val"] for c in chosen["candidates"] if c["kind"] == "blend")


def test_lightgbm_serves_rather_than_a_blend_that_beats_it_by_less_than_the_band():
    rng, y, mask = _rows()
    shared = y + rng.normal(scale=3.0, size=N)
    gbdt = y + rng.normal(scale=1.0, size=N)  # independent errors: 0.1 × network + 0.9 × LightGBM is best
    table = _pick(AMOUNT, y, mask, shared, gbdt=gbdt)["candidates"]
    mae = {(c["kind"], c["weight"]): c["val"] for c in table}
    best = min((k for k in mae if k[0] == "blend"), key=mae.__getitem__)
    lead = 100 * (mae[("gbdt", None)] - mae[best]) / mae[best]  # % of the best candidate's MAE
    assert best == ("blend", 0.1) and 2.0 < lead < 8.0
    assert _pick(AMOUNT, y, mask, shared, gbdt=gbdt, band=lead + 0.1)["kind"] == "gbdt"
    chosen = _pick(AMOUNT, y, mask, shared, gbdt=gbdt, band=lead - 0.1)
    assert (chosen["kind"], chosen["weight"]) == ("blend", 0.1)
    assert chosen["gain_val"] == next(c["gain"] for c in table if (c["kind"], c["weight"]) == best)


def test_a_blend_serves_where_network_and_lightgbm_err_apart_and_its_weight_is_the_best_on_validation():
    rng, y, mask = _rows()
    shared = y + rng.normal(scale=2.0, size=N)
    gbdt = y + rng.normal(scale=2.0, size=N)  # as good, with independent errors: the half-half blend is best
    chosen = _pick(AMOUNT, y, mask, shared, gbdt=gbdt)
    assert chosen["kind"] == "blend" and chosen["weight"] == 0.5
    blended = 0.5 * shared + 0.5 * gbdt
    shared_mae, blended_mae = (float(np.mean(np.abs(p - y))) for p in (shared, blended))
    assert chosen["gain_val"] == pytest.approx(100 * (shared_mae - blended_mae) / shared_mae)


def test_within_the_band_the_shared_network_stays():
    rng, y, mask = _rows()
    shared = y + rng.normal(scale=2.0, size=N)
    slightly = y + 0.998 * (shared - y)  # the single-task net and LightGBM 0.2 % better: within the band
    chosen = _pick(AMOUNT, y, mask, shared, single=slightly, gbdt=slightly, steps=1)
    assert chosen["kind"] == "shared" and chosen["gain_val"] == 0
    assert [c["gain"] for c in chosen["candidates"][1:]] == pytest.approx([0.2, 0.2])
    # the same gap serves the single-task network once the band is below it (it is cheaper than LightGBM)
    assert _pick(AMOUNT, y, mask, shared, single=slightly, gbdt=slightly, band=0.0, steps=1)["kind"] == "single_task"


def test_a_candidate_that_is_not_finite_never_serves_however_good_its_metric_would_be():
    rng = np.random.default_rng(0)
    y = (rng.random(N) < 0.3).astype(np.float32)
    shared = np.clip(0.3 + 0.1 * (y - 0.3) + rng.normal(scale=0.2, size=N), 0, 1)
    gbdt = y.astype(float).copy()  # perfect, but for one row
    gbdt[7] = np.nan
    chosen = _pick(CHURN, y, np.ones(N, bool), shared, gbdt=gbdt)
    assert chosen["kind"] == "shared"
    assert all(c["val"] != c["val"] for c in chosen["candidates"] if c["kind"] in ("gbdt", "blend"))  # NaN


def test_without_a_usable_reference_the_shared_network_serves_and_says_why():
    y = np.ones(200, np.float32)  # one class: AUC undefined for every candidate
    shared, gbdt = np.full(200, 0.4), np.full(200, 0.6)
    chosen = _pick(CHURN, y, np.ones(200, bool), shared, gbdt=gbdt)
    assert chosen["kind"] == "shared" and "roc_auc" in chosen["note"] and "serves" in chosen["note"]


def test_a_choice_is_one_of_the_kinds_and_only_a_blend_has_a_weight():
    assert ServedBy("blend", 0.3).uses_network and ServedBy("blend", 0.3).uses_gbdt
    for bad in (("lightgbm", None), ("blend", None), ("blend", 1.0), ("gbdt", 0.5)):
        with pytest.raises(ModelSpecError):
            ServedBy(*bad)


# --------------------------------------------------------------------------------------- prefer: blend
def test_with_prefer_blend_the_best_blend_serves_even_where_it_beats_the_shared_network_by_less_than_the_band():
    rng, y, mask = _rows()
    shared = y + rng.normal(scale=2.0, size=N)
    gbdt = y + rng.normal(scale=8.0, size=N)  # much worse alone; the 0.9 blend edges the network (~1.5 %)
    table = _pick(AMOUNT, y, mask, shared, gbdt=gbdt, prefer="blend")["candidates"]
    mae = {(c["kind"], c["weight"]): c["val"] for c in table}
    best = min((k for k in mae if k[0] == "blend"), key=mae.__getitem__)
    lead = 100 * (mae[("shared", None)] - mae[best]) / mae[best]
    assert best == ("blend", 0.9) and 0.5 < lead < 3.0
    chosen = _pick(AMOUNT, y, mask, shared, gbdt=gbdt, band=lead + 0.5, prefer="blend")
    assert (chosen["kind"], chosen["weight"]) == best and chosen["gain_val"] > 0
    # under `prefer: shared` the same blend is within that band of the network, which stays
    assert _pick(AMOUNT, y, mask, shared, gbdt=gbdt, band=lead + 0.5, prefer="shared")["kind"] == "shared"


def test_with_prefer_blend_a_single_model_serves_only_when_it_beats_the_best_blend_by_more_than_the_band():
    rng, y, mask = _rows()
    shared = y + rng.normal(scale=2.0, size=N)
    gbdt = y + rng.normal(scale=6.0, size=N)
    # a single-task network a little better than the best blend: how much, in % of the blend's MAE
    single = y + 0.9 * (shared - y)
    table = _pick(AMOUNT, y, mask, shared, single=single, gbdt=gbdt, prefer="blend")["candidates"]
    mae = {(c["kind"], c["weight"]): c["val"] for c in table}
    blend = min(v for k, v in mae.items() if k[0] == "blend")
    lead = 100 * (blend - mae[("single_task", None)]) / blend
    assert 1.0 < lead < 20.0
    beaten = _pick(AMOUNT, y, mask, shared, single=single, gbdt=gbdt, band=lead - 0.1, prefer="blend")
    assert beaten["kind"] == "single_task"
    kept = _pick(AMOUNT, y, mask, shared, single=single, gbdt=gbdt, band=lead + 0.1, prefer="blend")
    assert kept["kind"] == "blend" and mae[("blend", kept["weight"])] == blend


def test_with_prefer_blend_and_no_lightgbm_the_shared_rule_decides():
    rng, y, mask = _rows()
    shared = y + rng.normal(scale=2.0, size=N)
    slightly = y + 0.998 * (shared - y)
    chosen = _pick(AMOUNT, y, mask, shared, single=slightly, prefer="blend")
    assert chosen["kind"] == "shared"
    assert _pick(AMOUNT, y, mask, shared, single=slightly, band=0.0, prefer="blend")["kind"] == "single_task"


def test_an_unknown_preference_is_refused_by_name():
    _, y, mask = _rows()
    with pytest.raises(ValueError, match="prefer"):
        _pick(AMOUNT, y, mask, y + 1.0, prefer="lightgbm")
