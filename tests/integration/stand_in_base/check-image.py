"""The stand-in base's check: the package from the private index imports; its version is the image's."""

import argparse
import json
import subprocess
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--write", type=Path, required=True)
args = parser.parse_args()
value = subprocess.run(
    ["/opt/probe/bin/python", "-c", "import ck_sentinel_probe as p; print(p.VALUE)"],
    capture_output=True,
    text=True,
    check=True,
).stdout.strip()
args.write.parent.mkdir(parents=True, exist_ok=True)
args.write.write_text(json.dumps({"probe": value}) + "\n")
