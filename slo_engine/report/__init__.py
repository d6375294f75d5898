"""Show where budgets stand: the status table and the HTML report with plots."""

from __future__ import annotations

from slo_engine.report.html import write_report
from slo_engine.report.status import (
    StatusRow,
    collect_status,
    render_json,
    render_table,
)

__all__ = ["StatusRow", "collect_status", "render_json", "render_table", "write_report"]
