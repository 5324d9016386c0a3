"""How the server is reached: stdio, and streamable HTTP."""
