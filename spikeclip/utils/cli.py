"""How the command-line tools end: ``error: <one line>`` and exit 1 for bad input, exit 130
for Ctrl-C, never a traceback for either."""
import sys
from typing import Any, Callable, Tuple, Type

from .errors import SpikeCLIPError

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def run_cli(main: Callable[[], Any], errors: Tuple[Type[BaseException], ...] = ()) -> None:
    """Run a tool's ``main`` and exit: 0 (or the int ``main`` returns); 1 with ``error: ...``
    for a :class:`SpikeCLIPError` (or one of ``errors``); 130 for Ctrl-C, printing the
    ``KeyboardInterrupt``'s message (e.g. how to continue) or ``interrupted``."""
    try:
        result = main()
    except KeyboardInterrupt as e:
        print(f'\n{e.args[0] if e.args else "interrupted"}', file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except (SpikeCLIPError, *errors) as e:
        sys.exit(f'error: {e}')
    sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)
