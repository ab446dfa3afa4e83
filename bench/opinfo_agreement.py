"""Agreement with PyTorch over its OpInfo sample inputs for every op dl_kernels has (issue 10
target: >= 95 % of samples agree in value and gradient at PyTorch's default tolerances).

    python bench/opinfo_agreement.py [--verbose] [--max-samples N] [--ops a,b]

Needs torch and expecttest. Prints one line per op with --verbose, then the total.
"""

from __future__ import annotations

import sys

from dl_kernels.testing.opinfo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
