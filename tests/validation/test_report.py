"""The validation page a person opens: the whole result in one file that renders with no network."""

from __future__ import annotations

import re

import pytest

from mtlops.validation import ValidationFailed
from mtlops.validation.run import validate
from tests.validation.helpers import project, write_snapshot


def test_the_page_shows_the_result_offline_and_links_every_data_docs_page(tmp_path, mixed, with_profile):
    params, df = mixed
    cfg, paths = project(tmp_path, params, {"validation": {"ranges": {"x1": [0, 1]}}})
    unseen = df.assign(shop=df["shop"].where(df.index % 3 > 0, "zz"))  # unseen categories: a drift warning
    write_snapshot(paths, unseen)
    with_profile(paths)
    with pytest.raises(ValidationFailed):
        validate(cfg, paths)

    page = paths.validation_report.read_text()
    assert not re.search(r"<script|<link|src=|@import|url\(", page)  # nothing to fetch: it renders offline
    assert "FAILED" in page and "expect_column_values_to_be_between" in page
    assert re.search(r"<td>x1</td><td>expect_column_values_to_be_between</td><td><span class='fail'>failed", page)
    assert "unseen_categories" in page and "class='warn'" in page
    statistics = paths.validation_summary.read_text()
    evaluated = int(re.search(r'"evaluated": (\d+)', statistics).group(1))
    every = page.split("Every expectation")[1:]
    assert sum(part.split("GX Data Docs")[0].count("<tr>") - 1 for part in every) == evaluated  # minus the header rows

    links = re.findall(r"href='([^']+)'", page)
    assert any("/validations/" in link for link in links) and any("/expectations/" in link for link in links)
    assert all((paths.validation_dir / link).is_file() for link in links)
