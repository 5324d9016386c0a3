"""The one request path to Twill. It knows nothing of MCP."""
