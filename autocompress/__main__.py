"""``python -m autocompress``: the same CLI as the ``autocompress`` command."""
import sys

from .cli import main

sys.exit(main())
