"""Fit the training estimate's calibration on the measured fine-tuning runs.

    .venv/bin/python scripts/fit_train.py          # write src/rigfit/train/calibration.json
    .venv/bin/python scripts/fit_train.py --check  # exit 1 if the committed file differs

Rows held out (one in four, by the hash of their id) never enter the fit; their error is
reported apart by ``rigfit validate``.
"""

from __future__ import annotations

import json
import sys

from rigfit.train.calibration import CALIBRATION_PATH
from rigfit.validation.train_score import fit_calibration


def main() -> int:
    cal = fit_calibration()
    text = (
        json.dumps(
            {
                "context_bytes": cal.context_bytes,
                "allocator_fraction": cal.allocator_fraction,
                "mfu": cal.mfu,
                "rows": cal.rows,
                "source": cal.source,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    if "--check" in sys.argv:
        same = CALIBRATION_PATH.read_text(encoding="utf-8") == text
        print("calibration.json matches the fit" if same else "calibration.json is stale")
        return 0 if same else 1
    CALIBRATION_PATH.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
