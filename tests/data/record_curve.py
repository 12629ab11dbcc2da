"""Record one probe run's raw chase samples as a test data file (see README.md here).

Run from the repository root: python3 tests/data/record_curve.py NAME "what the machine was
doing" [--full]; NAME may name a directory here too (sapphire_rapids/quick_quiet_1).
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tiler.hierarchy import sysfs_levels
from tiler.probe import run_probe


def main() -> None:
    name, description = sys.argv[1], sys.argv[2]
    result = run_probe(quick="--full" not in sys.argv, started=time.monotonic())
    data = {"description": description, "recorded_at": result.hierarchy.measured_at,
            "cpu": result.hierarchy.cpu, "quick": result.quick,
            "seconds": round(result.seconds, 2), "load_average": result.load_average,
            "sysfs_sizes": [level.size_bytes for level in sysfs_levels()],
            "levels_found": [level.size_bytes for level in result.hierarchy.levels],
            "sizes": list(result.sizes),
            "chase_samples": [[round(v, 4) for v in s] for s in result.chase_samples],
            "visit_lows": [[round(v, 4) for v in s] for s in result.chase_visit_lows],
            "triangle_ns": [round(v, 4) for v in result.triangle_ns]}
    path = Path(__file__).parent / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data) + "\n")
    print(path, result.load_average, round(result.seconds, 1), data["levels_found"])


if __name__ == "__main__":
    main()
