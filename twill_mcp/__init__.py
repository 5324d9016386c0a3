"""twill-mcp: an MCP server for the Twill cloud coding-agent API, compiled from its OpenAPI spec."""

__version__ = "0.1.0"

__all__ = ["__version__"]
