"""The `gatewayd` command."""

import argparse
import sys

from gatewayd.main import version


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="gatewayd", description="SMPP-native SMS gateway")
    parser.add_argument("--version", action="version", version=f"gatewayd {version()}")
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
