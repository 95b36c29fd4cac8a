"""`mlops`'s entry point (pyproject's `mlops = mlopsctl.main:main`): parse the command line, run the
command, and turn the errors a user can act on into a message and an exit code (mlopsctl.parser
lists the codes; mlopsctl.commands defines them).
"""

from __future__ import annotations

import argparse
import json
import sys

from mlopsctl.commands import EXIT_ERROR, EXIT_OK, EXIT_REJECTED, CommandError
from mlopsctl.parser import parse_args
from mlopsctl.target import TargetError

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_REJECTED", "main"]  # what scripts and tests take from here


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)  # first: `--help` and usage errors need no pandas or botocore
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
    except BrokenPipeError:
        # The reader (`| head -1`) has gone: stop quietly, as the Python docs recommend for SIGPIPE,
        # pointing stdout at devnull so the interpreter's final flush does not fail again.
        import contextlib
        import os

        with contextlib.suppress(OSError, ValueError):  # a stdout without a descriptor (tests) needs none of this
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a pipeline stage killed by it
    return code


# Errors a command's input can raise, by the module that defines them. They are caught only if that
# module was loaded: importing pandas (contracts) to catch an error nobody raised would cost a
# read-only command more than a second of start-up.
INPUT_ERRORS = (("mlops.contracts.model", "ContractError"), ("mlops.training.config", "ConfigError"))


def input_errors() -> tuple[type[Exception], ...]:
    """CommandError, TargetError, OSError, and the input errors of the modules this run loaded."""
    loaded = [getattr(sys.modules[module], name) for module, name in INPUT_ERRORS if module in sys.modules]
    return (CommandError, TargetError, OSError, *loaded)


def _dispatch(args: argparse.Namespace) -> int:
    import urllib.error

    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    from mlopsctl.api import ApiError

    try:
        return int(args.run(args))
    except ApiError as error:
        if args.json:  # the API's whole error body: a script gets every problem, by row and field
            print(json.dumps({"status": error.status, **error.body}, indent=2, default=str))
        from mlopsctl.prediction_input import problem_lines

        print("\n".join([f"error: {error}", *problem_lines(error.problems, error.problem_count)]), file=sys.stderr)
        return EXIT_REJECTED if error.status == 409 else EXIT_ERROR
    except (NoCredentialsError, EndpointConnectionError, urllib.error.URLError) as error:
        print(
            f"error: {error}\nhint: is the local cloud running (`make up`), and are the AWS_* variables it printed "
            "exported in this shell?",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except BrokenPipeError:
        raise  # main() ends quietly: the reader went away
    except Exception as error:
        if not isinstance(error, input_errors()):
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
