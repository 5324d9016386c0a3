"""`--auth oauth`: twill-mcp as its own OAuth 2.1 authorization server, for claude.ai, ChatGPT and the like.

Twill has API keys and no OAuth, so the "login" is a consent page where the user pastes a Twill key
once; every token issued carries that key sealed inside it (`sealing`), so any replica with the same
secret serves any token and nothing but the secret opens one. One module per job: `sealing` (the
token format), `clients` (who may register, where they may return: pinned documents, DCR, redirect
policy), `store` (what must be used once or revoked), `provider` (the SDK's provider protocol),
`consent` (the page), `routes` (metadata, registration, revocation and the SDK handlers, wired).
"""
