"""Which files of a directory a build context may hold, matched by Docker's own .dockerignore rules.

The rules themselves (what is always left out, what the project's .dockerignore says) are decided in
`core.build.projectcontext`; only the matching is docker-py's, so it is the engine's to call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def kept_files(root: Path, always_excluded: Sequence[str], user_patterns: Sequence[str]) -> list[str]:
    """Relative paths of the regular files under `root` the patterns keep, sorted.

    A user's `!pattern` may re-include what their own patterns drop, never what `always_excluded` forbids."""
    from docker.utils.build import exclude_paths

    included = exclude_paths(str(root), [*always_excluded, *user_patterns])
    allowed = exclude_paths(str(root), list(always_excluded))
    return sorted(p for p in included if p in allowed and (root / p).is_file() and not (root / p).is_symlink())
