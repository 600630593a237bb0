"""`python -m cli ...` is `strideguard ...` (the tests start the service this way)."""

import sys

from cli import main

sys.exit(main())
