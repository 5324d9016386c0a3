"""`python -m twill_mcp` and the `twill-mcp` command: the command line, loaded with the collector paused."""

import gc
import sys


def main() -> int:
    # Loading the command line makes a few hundred thousand objects that all live as long as the process (the
    # SDK's models, the modules): collecting while they are being made only walks them over and over, ~10 % of
    # the wait before a host's first answer (docs/performance.md). So the collector waits until they are made,
    # and then leaves them out of its walks, as a serving process does with what building its server made
    # (server.build.settle).
    gc.disable()
    try:
        from twill_mcp.cli import main as run
    finally:
        gc.freeze()
        gc.enable()
    return run()


if __name__ == "__main__":
    sys.exit(main())
