"""The discovery study (issue 16): `python -m experiments.discovery_study [mpo study options]` = `mpo study`."""
import sys

from discovery.cli import main

if __name__ == "__main__":
    sys.exit(main(["study", *sys.argv[1:]]))
