"""Fit the speed model's constants on the speed measurement set and write calibration.json.

    python scripts/fit_speed.py            # fit, write src/rigfit/speed/calibration.json, report
    python scripts/fit_speed.py --check    # fail if the committed file is not what the fit gives

The fit uses the rows not held out (rigfit.validation.speed_rows.held_out); the report prints
the error on the fit rows and on the held-out rows separately, per engine and metric group.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from rigfit.speed.calibration import CALIBRATION_PATH, Calibration
from rigfit.validation.speed_score import fit_calibration


def to_json(cal: Calibration) -> str:
    data = {
        "comment": (
            "Fitted by scripts/fit_speed.py on rigfit/validation/data/speed/speed.jsonl (rows not"
            " held out); do not edit by hand. Each key is engine/hardware class; bands are the"
            " 10th-90th percentile of measured/predicted on that key's fit rows."
        ),
        "constants": {
            k: {kk: vv for kk, vv in asdict(c).items() if kk not in ("key", "fallback")}
            for k, c in sorted(cal.constants.items())
        },
        "host_bandwidth_efficiency": cal.host_bandwidth_efficiency,
        "allreduce_latency_s": cal.allreduce_latency_s,
        "meta": cal.meta,
    }
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = to_json(fit_calibration())
    if args.check:
        if CALIBRATION_PATH.read_text() != text:
            print("calibration.json is not what the fit gives: run scripts/fit_speed.py")
            return 1
        print("calibration.json matches the fit")
        return 0
    CALIBRATION_PATH.write_text(text)
    from rigfit.speed import calibration as mod

    mod.calibration.cache_clear()
    from rigfit.validation.speed_report import render_speed_validation

    print(render_speed_validation())
    return 0


if __name__ == "__main__":
    sys.exit(main())
