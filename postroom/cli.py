"""The `postroom` command line. Operators script against these forms (MISSION M10): keep names, options
and output fields stable. Errors go to stderr with a non-zero exit code.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    from postroom.commands import dispatch

    return dispatch(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
