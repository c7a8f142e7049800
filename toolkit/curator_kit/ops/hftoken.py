"""The host's Hugging Face token: read by a build that bakes weights (`ops.build`) and by `models pull`
(`ops.models`), which is why it lives apart from both."""

from __future__ import annotations

import os
from pathlib import Path


def hf_token_file() -> Path | None:
    """The token `huggingface-cli login` wrote: $HF_TOKEN_PATH, else $HF_HOME/token (~/.cache/huggingface)."""
    if os.environ.get("HF_TOKEN_PATH"):
        path = Path(os.environ["HF_TOKEN_PATH"])
    else:
        hf_home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
        path = Path(hf_home) / "token"
    return path if path.is_file() else None


def host_hf_token() -> str:
    """The host's token for a build's bake stage: HF_TOKEN, else the login's token file; "" when none."""
    value = os.environ.get("HF_TOKEN", "").strip()
    found = hf_token_file() if not value else None
    return found.read_text().strip() if found is not None else value
