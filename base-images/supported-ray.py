"""Print the Ray version the installed nemo-curator supports (its `_SUPPORTED_RAY_VERSION`), or
nothing when it declares none. Read from Curator's source, not imported: Dockerfile.base runs this
after installing nemo-curator alone, so that Ray can be pinned in the one resolution that follows."""

import ast
import importlib.util
from pathlib import Path


def supported_ray_version() -> str:
    spec = importlib.util.find_spec("nemo_curator")
    if spec is None or not spec.submodule_search_locations:
        return ""
    source = Path(spec.submodule_search_locations[0], "backends", "ray_data", "diagnostics.py")
    if not source.is_file():
        return ""
    for node in ast.parse(source.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(getattr(target, "id", "") == "_SUPPORTED_RAY_VERSION" for target in targets):
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    return ""


if __name__ == "__main__":
    print(supported_ray_version())
