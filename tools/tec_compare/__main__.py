"""python3 -m tec_compare (from tools/): the same as tools/compare.py."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
