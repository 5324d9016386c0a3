"""Key/workspace context and repositories."""

from __future__ import annotations

import hashlib

from twill_mcp.emulator.ops.common import Ctx, Handler, Reply


async def get_current_user(ctx: Ctx) -> Reply:
    state = ctx.state
    return Reply(
        {
            "workspaceId": state.workspace_id,
            "userId": state.user_id,
            "apiKeyId": "key_" + hashlib.sha256(ctx.api_key.encode()).hexdigest()[:16],
            "workspaceName": state.workspace_name,
            "workspaceSlug": state.workspace_slug,
        }
    )


async def list_repositories(ctx: Ctx) -> Reply:
    with ctx.state.lock:
        return Reply({"repositories": [repo.view() for repo in ctx.state.repositories]})


HANDLERS: dict[str, Handler] = {
    "getCurrentUser": get_current_user,
    "listRepositories": list_repositories,
}
