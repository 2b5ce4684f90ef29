"""The ``autocompress`` command line: one module per subcommand in ``autocompress.commands``.

Error policy: a user error (bad path, file or value, unsupported model, missing or failing device) prints one
line naming the problem and exits 2; anything else is a bug: one line saying so (the traceback with ``--debug``),
exit 1.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import traceback

# Each module defines HELP, add_arguments(parser) and run(args) -> int.
COMMANDS = ("run", "train", "eval", "info", "prune", "search", "compress", "compile", "bench")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (problem and where to look), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default, except where there is none (None, False) or the help names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input or a faulty device, not a bug."""
    from codegen.errors import ToolchainError
    from runtime.errors import AccuracyError, DeviceError

    return ValueError, OSError, DeviceError, AccuracyError, ToolchainError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = OneLineParser(
        prog="autocompress",
        description="Automatic structured pruning of CNNs (ADMM + purification) and compilation to static "
                    "ARM64/x86 binaries through Apache TVM. Run 'autocompress COMMAND --help' for each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"autocompress.commands.{name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP,
                             formatter_class=DefaultsHelpFormatter)
        module.add_arguments(cmd)
        cmd.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
        cmd.set_defaults(handler=module.run)
    return parser


def one_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when it has none)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


@contextlib.contextmanager
def data_parallel(args: argparse.Namespace):
    """Under ``torchrun`` with several processes: the process group for the run's torch device, and stdout
    (results, ``--json``) from rank 0 only; errors still print on every rank."""
    from compress import distributed

    distributed.init(getattr(args, "torch_device", "cpu"))
    try:
        with contextlib.redirect_stdout(sys.stdout if distributed.is_main() else io.StringIO()):
            yield
    finally:
        distributed.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and apply the error policy above."""
    args = build_parser().parse_args(argv)
    prog = f"autocompress {args.command}"
    try:
        with data_parallel(args):
            return int(args.handler(args) or 0)
    except user_errors() as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (anything else is a bug: say so)
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else "; rerun with --debug for the traceback"
        print(f"{prog}: internal error (a bug, please report it): {type(err).__name__}: {one_line(err)}{hint}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
