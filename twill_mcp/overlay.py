"""Per-operation hand edits the OpenAPI document cannot express, as data.

The spec stays the single source of truth for paths, parameters and schemas. This
overlay only adds what the spec is silent on: a tighter description for an agent,
argument descriptions, and the behavioural hints the HTTP method alone cannot tell
(for example that cancelling is destructive yet safe to repeat). Keyed by operationId.
"""

from __future__ import annotations

from typing import TypedDict


class ToolOverlay(TypedDict, total=False):
    name: str
    title: str
    description: str
    arguments: dict[str, str]
    effect: str
    """The action in words ("cancel the task"), for messages about whether it happened."""
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool


OVERLAY: dict[str, ToolOverlay] = {
    "cancelTask": {
        "description": (
            "Cancel a running Twill task and all of its jobs; the task is marked CANCELLED. "
            "Safe to repeat: cancelling a cancelled task leaves it cancelled. "
            "Returns {success, task: {id}}."
        ),
        "arguments": {"taskIdOrSlug": "The task's id (UUID) or slug, as Twill shows it."},
        "effect": "cancel the task",
        "destructive": True,
        "idempotent": True,
    },
}
