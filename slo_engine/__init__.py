"""slo-engine: SLOs for LLM applications, compiled to Prometheus rules and paged on."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
