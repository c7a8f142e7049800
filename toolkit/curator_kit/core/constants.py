"""Names and numbers every layer agrees on: one place each, so a change is made once.

Click defaults, templates, plans and the engine layer import these; none of them writes the
literal again. Label keys are the contract between `build` (which writes them) and `run`,
`cluster`, `export` and `inspect` (which read the image they will run).
"""

from __future__ import annotations

# The NeMo Curator release new projects and base images target (the newest on PyPI when pinned).
DEFAULT_CURATOR_VERSION = "1.4.0"

MANIFEST_NAME = "curator-kit.toml"
# Per-project state (last build, last push, cluster tokens): never part of a build context.
STATE_DIR = ".curator-kit"

# Inside every project image.
PROJECT_DIR_IN_IMAGE = "/workspace"
PIPELINE_IN_IMAGE = f"{PROJECT_DIR_IN_IMAGE}/pipeline.py"
SPEC_FILE_NAME = "pipeline-spec.json"
SPEC_IN_IMAGE = f"/opt/curator-kit/{SPEC_FILE_NAME}"
MODEL_DIR_IN_IMAGE = "/opt/models"
INPUT_DIR = "/data/input"
OUTPUT_DIR = "/data/output"

# NVIDIA_DRIVER_CAPABILITIES: `video` is what makes the NVIDIA hook mount NVDEC/NVENC libraries.
DRIVER_CAPABILITIES = "compute,utility,video"


def base_image_tag(curator_version: str, variant: str = "cpu") -> str:
    """The tag `curator-kit base build --variant VARIANT` produces."""
    return f"curator-kit/base:{curator_version}-{variant}"


def bootstrap_image_tag(suite: str) -> str:
    """The registry-free Debian root `curator-kit base bootstrap` imports."""
    return f"curator-kit/bootstrap:{suite}"


DEFAULT_BASE_IMAGE = base_image_tag(DEFAULT_CURATOR_VERSION)

# Image labels written by `build`.
LABEL_PREFIX = "curator-kit."
LABEL_PROJECT = "curator-kit.project"
LABEL_CURATOR_VERSION = "curator-kit.curator-version"
LABEL_TOOLKIT_VERSION = "curator-kit.toolkit-version"
LABEL_GIT_REVISION = "curator-kit.git-revision"
LABEL_STAGES = "curator-kit.stages"
LABEL_CODEC_NEEDS = "curator-kit.codec-needs"
LABEL_SPEC = "curator-kit.pipeline-spec"
LABEL_BASE_VARIANT = "curator-kit.base.variant"

# Container labels written by `run` and `cluster`.
LABEL_RUN_ID = "curator-kit.run-id"
LABEL_CLUSTER = "curator-kit.cluster"
LABEL_ROLE = "curator-kit.role"  # head | worker | driver
LABEL_RAY_CPUS = "curator-kit.ray-cpus"
LABEL_RAY_GPUS = "curator-kit.ray-gpus"
LABEL_NETWORK = "curator-kit.network"
LABEL_INPUT = "curator-kit.input"
LABEL_OUTPUT = "curator-kit.output"
LABEL_NODE_SHM = "curator-kit.node-shm"
LABEL_OBJECT_STORE = "curator-kit.object-store"
