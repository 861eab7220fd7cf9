"""`python -m discovery.cli` = `mpo`."""
import sys

from discovery.cli import main

sys.exit(main())
