"""What users write: YAML spec files, read with their positions and validated."""

from __future__ import annotations

from slo_engine.spec.loader import SpecFile, SpecLoader, load_paths

__all__ = ["SpecFile", "SpecLoader", "load_paths"]
