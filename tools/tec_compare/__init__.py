"""tec compare (tools/compare.py, `tec compare`): rate-distortion, speed and
memory of tec against the codecs a user would pick instead.

    metrics.py   PSNR, SAM, MS-SSIM
    bdrate.py    BD-rate, interpolation on RD curves
    klt.py       the spectral KLT of j2k_klt
    meter.py     child processes: time, CPU, peak RSS
    codecs.py    tec and the baselines
    inputs.py    the cubes
    report.py    results.csv, bdrate, summary, plots
    cli.py       options and the run (main)

The names of every module are re-exported here, so `import compare` (the
entry point) still gives them all.
"""
from .metrics import *  # noqa: F401,F403
from .bdrate import *  # noqa: F401,F403
from .klt import *  # noqa: F401,F403
from .meter import *  # noqa: F401,F403
from .codecs import *  # noqa: F401,F403
from .inputs import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403
from .cli import *  # noqa: F401,F403
