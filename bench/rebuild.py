"""Cold build vs. warm rebuild after editing one stage file, for a scaffolded project with two
stages and an env (apt + pip). Prints both times and their ratio from one run.

    python bench/rebuild.py [--base-image IMAGE]

Needs a Docker engine and the base image (`curator-kit base build`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from curator_kit.core.constants import DEFAULT_BASE_IMAGE, bench_image_tag

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit

TAG = bench_image_tag("rebuild")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ck-bench-") as tmp:
        root = Path(tmp)
        curator_kit("init", "bench-rebuild", "--base-image", args.base_image, cwd=root)
        project = root / "bench-rebuild"
        curator_kit("new-env", "tools", "--apt", "jq", "--pip", "tabulate==0.9.0", cwd=project)
        curator_kit("new-stage", "first", "--env", "tools", cwd=project)
        curator_kit("new-stage", "second", cwd=project)
        cold = curator_kit("build", "--tag", TAG, "--no-cache", cwd=project)
        stage = project / "stages" / "first.py"
        stage.write_text(stage.read_text() + "\n# a code-only change\n")
        warm = curator_kit("build", "--tag", TAG, cwd=project)
    print(f"cold build (--no-cache):        {cold:7.2f} s")
    print(f"warm rebuild after stage edit:  {warm:7.2f} s")
    print(f"warm / cold:                    {warm / cold:7.1%}")


if __name__ == "__main__":
    main()
