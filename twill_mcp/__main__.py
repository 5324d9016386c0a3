import sys

from twill_mcp.cli import main

sys.exit(main())
