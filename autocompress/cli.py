"""The ``autocompress`` command line: one module per subcommand in ``autocompress.commands``."""
from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines HELP, add_arguments(parser) and run(args) -> int.
COMMANDS = ("run", "train", "eval", "info", "prune", "search", "compress", "compile", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="autocompress",
        description="Automatic structured pruning of CNNs (ADMM + purification) and compilation to static "
                    "ARM64/x86 binaries through Apache TVM. Run 'autocompress COMMAND --help' for each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"autocompress.commands.{name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP,
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn known user errors into one line on stderr."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"autocompress {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
