"""The report page in a real browser: headless Chromium loads it, and the page's own check script lists
figures that did not decode, tables without a row and sections the builder promised but the DOM lacks.

Skipped where no Chromium is installed (``apt-get install chromium``; ``SRLIB_CHROMIUM`` names another
binary). ``srlib report PROFILE --check-render`` runs the same check on a real run (`make reproduce` does)."""
from __future__ import annotations

import re

import pytest

from srlib import report_page
from test_report_page import PROFILE, make_run

pytestmark = pytest.mark.skipif(report_page.find_chromium() is None,
                                reason="no headless Chromium (apt-get install chromium)")


def test_page_renders_with_every_section_figure_and_table(tmp_path, monkeypatch):
    make_run(tmp_path, monkeypatch)
    html_path, _ = report_page.build(PROFILE, plan_timing="off", log=lambda m: None)
    res = report_page.render_check(html_path, screenshot=tmp_path / "page.png")
    assert res["ok"], res
    assert res["images"] == 2 and not res["broken"]
    assert res["tables"] >= 10 and not res["empty"] and not res["missing_sections"]
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_render_check_sees_a_broken_figure_an_empty_table_and_a_missing_section(tmp_path, monkeypatch):
    make_run(tmp_path, monkeypatch)
    html_path, _ = report_page.build(PROFILE, plan_timing="off", log=lambda m: None)
    html = html_path.read_text()
    html = re.sub(r"src='data:image/png;base64,[^']+'", "src='data:image/png;base64,AAAA'", html, count=1)
    html = html.replace("<section id='stand-ins'>", "<section id='renamed'>")
    html = html.replace("</main>", "<table id='hollow' data-check='1'><thead><tr><th>x</th></tr></thead>"
                                   "<tbody></tbody></table></main>")
    bad = tmp_path / "bad.html"
    bad.write_text(html)
    res = report_page.render_check(bad)
    assert not res["ok"]
    assert res["broken"] == ["mfagan_fig6"] and res["empty"] == ["hollow"] and res["missing_sections"] == ["stand-ins"]
