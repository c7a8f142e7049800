"""Names and numbers every layer agrees on: one place each, so a change is made once.

Click defaults, templates, plans and the engine layer import these; none of them writes the
literal again. Label keys are the contract between `build` (which writes them) and `run`,
`cluster`, `export` and `inspect` (which read the image they will run).
"""

from __future__ import annotations

# The NeMo Curator release new projects and base images target (the newest on PyPI when pinned).
DEFAULT_CURATOR_VERSION = "1.4.0"

# The Ray each Curator release pins (nemo_curator's `_SUPPORTED_RAY_VERSION`), which its base image
# installs and records as LABEL_RAY_VERSION: what `export kuberay` assumes of an image that does not say.
CURATOR_RAY_VERSIONS: dict[str, str] = {"1.4.0": "2.57.0"}

MANIFEST_NAME = "curator-kit.toml"
# Per-project state (last build, last push, cluster tokens): never part of a build context.
STATE_DIR = ".curator-kit"

# Inside every project image.
# The Python venv every base image provides (curator-kit's and NVIDIA's NeMo Curator image alike);
# project requirements are installed into it.
VENV_IN_IMAGE = "/opt/venv"
PROJECT_DIR_IN_IMAGE = "/workspace"
# The CA bundle update-ca-certificates writes (Debian and Ubuntu bases): [build] ca_certs end up there.
CA_BUNDLE_IN_IMAGE = "/etc/ssl/certs/ca-certificates.crt"
PIPELINE_IN_IMAGE = f"{PROJECT_DIR_IN_IMAGE}/pipeline.py"
SPEC_FILE_NAME = "pipeline-spec.json"
SPEC_IN_IMAGE = f"/opt/curator-kit/{SPEC_FILE_NAME}"
# Written by the base image's check (base-images/check-image.py) as the last build step.
BASE_VERSIONS_IN_IMAGE = "/opt/curator-kit/base-versions.json"
# The cuda base's no-GPU check (base-images/cuda/check-cuda.py), run by its build and by `doctor`.
BASE_GPU_CHECK_IN_IMAGE = "/opt/curator-kit/check-cuda.py"
MODEL_DIR_IN_IMAGE = "/opt/models"
# Written last into a model's directory by a complete download (templates/model.py.j2), holding its revision.
WEIGHTS_MARKER = ".curator-kit-complete"
# Runs with every model's weights present tell huggingface_hub never to reach the network.
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
# A Hugging Face token reaches a pull container only as this read-only file, named by HF_TOKEN_PATH
# (huggingface_hub reads it): never as a value on a command line, in a label or in the environment.
HF_TOKEN_IN_CONTAINER = "/run/curator-kit/hf-token"
INPUT_DIR = "/data/input"
OUTPUT_DIR = "/data/output"

# What pipeline.py writes at the top of the output directory when a run ends (`run` prints it, `report`
# reads it): videos found, unreadable, clips written and filtered, tasks failed or dropped.
SUMMARY_FILE_NAME = "curator-kit-summary.json"
# `run --capture STAGE` pickles the tasks entering STAGE into OUTPUT/<this>/STAGE; `replay` reads them.
CAPTURE_DIR_NAME = "curator-kit-capture"
# `replay STAGE --save-golden NAME` keeps what STAGE produced, and the capture it came from, in
# PROJECT/<this>/STAGE/NAME; `replay --compare` and the project's tests hold a replay against it.
# The tolerances are numpy's isclose defaults: a float computed the same way again passes, a 1 % drift fails.
GOLDEN_DIR = "tests/golden"
GOLDEN_FILE = "golden.json"  # the fields, beside capture/ (the tasks) and arrays/
# Where `replay` mounts a golden (or, with --save-golden, the stage's goldens), --compare's report
# folder, and --profile's folder.
GOLDEN_IN_CONTAINER = "/data/golden"
GOLDEN_REPORT_IN_CONTAINER = "/data/golden-report"
PROFILE_IN_CONTAINER = "/data/profile"
GOLDEN_RTOL = 1e-05
GOLDEN_ATOL = 1e-08
# `run --profile STAGE`: each worker of STAGE samples itself with py-spy into OUTPUT/<this>/STAGE/raw.
PROFILE_DIR_NAME = "curator-kit-profile"
PROFILE_RATE_HZ = 100
# pipeline.py copies it into the summary, so `run` never prints an older run's summary as this one's.
RUN_ID_ENV = "CURATOR_KIT_RUN_ID"

# Exit codes of pipeline.py, and so of `curator-kit run` (README: "Exit codes"). 1 stays Python's for
# a crash (and curator-kit's own one-line errors); 2 is a usage error; 128+N a signal N stopped the run.
EXIT_OK = 0
EXIT_NOTHING_WRITTEN = 3  # there were videos to process and not one came out of the writer readable
EXIT_GOLDEN_DIFFERS = 4  # `replay --compare`: a field differs from the golden beyond the tolerance

# Ray token authentication on every local cluster: the token lives in the project's state directory
# (mode 0600) and reaches nodes and drivers as a read-only file, never as a value on a command line,
# in a label or in the environment (`docker inspect` shows those).
RAY_TOKEN_IN_CONTAINER = "/run/curator-kit/ray-auth-token"
# How many nodes a cluster option may ask for, checked when the option is parsed: a plan (and its
# --dry-run) then costs the same whatever number was typed, and a typo is refused at once.
# `cluster up` puts every worker on this host's one Docker network, a Linux bridge, which takes at most
# 1,024 ports (the kernel's BR_MAX_PORTS); head and driver need two of them.
MAX_LOCAL_WORKERS = 1000
# `export kuberay --workers` and `export slurm|submit --slurm --nodes`: Ray's published scalability
# envelope is 2,000 nodes in one cluster; twice that is more than one Ray head has been shown to hold.
MAX_RAY_NODES = 4096

# What one stage may ask for (new-stage --cpus ..., [stages.resources]); a machine with more is not one
# a Xenna stage is scheduled on. A cluster or Slurm node is bounded the same (cli.params), and
# `core.parsers` refuses beyond them.
RESOURCE_LIMITS: dict[str, int] = {"cpus": 1024, "gpu_memory_gb": 1024, "gpus": 64, "nvdecs": 64, "nvencs": 64}
MAX_GPUS = 64

# The pipeline spec's format, which pipeline.py reads (core.pipeline.spec writes it).
# 2: built-in stages from the catalogue; writer flags, run-time fields and conversions in the spec.
# 3: pipeline.py scales every stage's CPUs (`--cpu-scale`, the executor's `required_cpus`).
SPEC_FORMAT = 3
# `run --capture`: pipeline.py's pass-through stage before the captured one, and the CPUs it reserves.
CAPTURE_STAGE = "curator_kit_capture"
CAPTURE_CPUS = 0.25

# Xenna's execution modes, as `run --execution-mode`, [run] execution_mode, the exports and pipeline.py
# take them: auto picks streaming or batch by one rule (`spec.choose_execution_mode`).
MODE_AUTO = "auto"
MODE_STREAMING = "streaming"
MODE_BATCH = "batch"
EXECUTION_MODES = (MODE_AUTO, MODE_STREAMING, MODE_BATCH)

# The engines curator-kit drives, chosen by `--engine`, CURATOR_KIT_ENGINE or the manifest's `[run] engine`
# (in that order); DOCKER_HOST, when set, is where the chosen engine answers.
ENGINE_DOCKER = "docker"
ENGINE_PODMAN = "podman"
ENGINES = (ENGINE_DOCKER, ENGINE_PODMAN)
ENGINE_ENV = "CURATOR_KIT_ENGINE"

# Engine sockets: a bind mount of one (or a folder holding one) hands the container the engine.
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")

# NVIDIA_DRIVER_CAPABILITIES: `video` is what makes the NVIDIA hook mount NVDEC/NVENC libraries.
DRIVER_CAPABILITIES = "compute,utility,video"


# The name of every base image's tag, and what its SBOM names as its subject (metadata.component): a project
# image whose SBOM still names it has inherited its base's document, which lists none of its own packages.
BASE_IMAGE_NAME = "curator-kit/base"


def base_image_tag(curator_version: str, variant: str = "cpu") -> str:
    """The tag `curator-kit base build --variant VARIANT` produces."""
    return f"{BASE_IMAGE_NAME}:{curator_version}-{variant}"


def bootstrap_image_tag(suite: str) -> str:
    """The registry-free Debian root `curator-kit base bootstrap` imports."""
    return f"curator-kit/bootstrap:{suite}"


DEFAULT_BASE_IMAGE = base_image_tag(DEFAULT_CURATOR_VERSION)


def bench_image_tag(bench: str, tag: str = "latest") -> str:
    """The tag a script of bench/ builds its project's image under, apart from users' and base images."""
    return f"curator-kit-bench/{bench}:{tag}"


# Image labels written by `build`.
LABEL_OCI_TITLE = "org.opencontainers.image.title"
LABEL_OCI_REVISION = "org.opencontainers.image.revision"
LABEL_OCI_BASE_NAME = "org.opencontainers.image.base.name"
LABEL_OCI_BASE_DIGEST = "org.opencontainers.image.base.digest"  # empty for a base built here
# Besides these, base images carry (rendered into their recipes by `core.build.baseimage.render_recipe`):
LABEL_OCI_DESCRIPTION = "org.opencontainers.image.description"
LABEL_OCI_VERSION = "org.opencontainers.image.version"
LABEL_OCI_LICENSES = "org.opencontainers.image.licenses"
LABEL_PREFIX = "curator-kit."
LABEL_PROJECT = "curator-kit.project"
LABEL_CURATOR_VERSION = "curator-kit.curator-version"
LABEL_TOOLKIT_VERSION = "curator-kit.toolkit-version"
LABEL_GIT_REVISION = "curator-kit.git-revision"
LABEL_STAGES = "curator-kit.stages"
LABEL_CODEC_NEEDS = "curator-kit.codec-needs"
LABEL_SPEC = "curator-kit.pipeline-spec"
# JSON {"base_image": ..., "envs": digest, "models": digest, "build": digest}: what the image was built
# from besides the code and the spec, so `--mount-code` can tell when only a build carries a change.
LABEL_BUILD_INPUTS = "curator-kit.build-inputs"
# JSON {"model name": "revision"} of the weights `build` baked under MODEL_DIR_IN_IMAGE (never a token).
LABEL_BAKED_MODELS = "curator-kit.baked-models"
# The id of the base image a project image was built on (the tag can move; `build` says when it did).
LABEL_BASE_ID = "curator-kit.base-id"
# The digest of a build step's inputs, on the image committed from the throwaway container that ran it
# with a secret mounted (core.build.secretsteps): a build whose digest finds the image reuses it.
LABEL_BUILD_STEP = "curator-kit.build-step"
LABEL_BASE_VARIANT = "curator-kit.base.variant"
# The base recipe's digest (Dockerfile.base, its scripts, the variant): an image under the right tag
# but from an older recipe is stale and rebuilt, not reused.
LABEL_BASE_RECIPE = "curator-kit.base.recipe"
# JSON {"torch": "2.14.1", "ffmpeg": "5.1.9-...", "ffmpeg-encoders": "libopenh264,...", ...}: what the
# base image's own check found installed, recorded by `base build` after the build.
LABEL_BASE_VERSIONS = "curator-kit.base.versions"
# JSON {"ffmpeg": {"version", "decoders", "encoders", "hwaccels"} | null, "pyav": {...} | null}: the
# decoders and encoders that matter for video curation, as the image's own probe (CODEC_PROBE_SCRIPT)
# found them; `build` and `base build` record it, `run` checks its inputs against it (core.pipeline.codecs).
LABEL_CODECS = "curator-kit.codecs"
# Shipped in base-images/ beside check-image.py; project images run it in a cached build step.
CODEC_PROBE_SCRIPT = "probe-codecs.py"
CODEC_PROBE_IN_IMAGE = f"/opt/curator-kit/{CODEC_PROBE_SCRIPT}"
CODECS_IN_IMAGE = "/opt/curator-kit/codecs.json"
# The image's SBOM: a CycloneDX 1.5 JSON document of its Python distributions, Debian packages and ffmpeg,
# each with version, package URL and licence, written offline by SBOM_SCRIPT (shipped in base-images/
# beside check-image.py; runs with any image's Python: `python SBOM_SCRIPT_IN_IMAGE --write SBOM_IN_IMAGE`)
# as a base recipe's last step. `curator-kit sbom IMAGE` writes it out.
SBOM_SCRIPT = "sbom.py"
SBOM_SCRIPT_IN_IMAGE = f"/opt/curator-kit/{SBOM_SCRIPT}"
SBOM_IN_IMAGE = "/opt/curator-kit/sbom.cdx.json"
# Compact JSON {"format", "spec", "components": {"python", "deb", "other"}, "unknown-licences", "versions":
# {nemo-curator, cosmos-xenna, ray, torch, ffmpeg}, "sha256" (of the document), "path"}: SBOM_SCRIPT's
# summary of the document at "path", recorded by `base build` after the build and shown by `inspect`.
LABEL_SBOM = "curator-kit.sbom"
# The Ray version installed in the base image (project images inherit it); KubeRay's spec.rayVersion.
LABEL_RAY_VERSION = "curator-kit.ray-version"

# The non-root user (and group) of every curator-kit image: the base recipes make it (rendered in by
# `core.build.baseimage.render_recipe`), project images inherit it, Kubernetes pods run as it (`export
# kuberay`: runAsUser/runAsGroup/fsGroup, Pod Security "restricted"). Its home is the image's ENV HOME,
# owned by NONROOT_UID and group 0 with the group's bits equal to the owner's (g=u), as is every cache
# under it (~/.cache: Hugging Face, torch, XDG; ~/.triton/cache): OpenShift's restricted SCC runs a pod as
# an arbitrary uid in group 0, which can write there too. The image's ENV USER names it, for
# getpass.getuser() under a uid with no passwd entry. `core.run.runplan.container_home` decides HOME for
# a container run as another user.
NONROOT_USER = "curator"
NONROOT_UID = 1000
NONROOT_GID = 1000
NONROOT_HOME = f"/home/{NONROOT_USER}"
# HOME for a user that cannot write NONROOT_HOME (or an image that has none): every uid can write /tmp.
FALLBACK_HOME = "/tmp"

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
# "token" on nodes started with Ray token authentication; absent on clusters made before it.
LABEL_RAY_AUTH = "curator-kit.ray-auth"
# The bytes of a generated Ray auth token (`cluster up`, `export kuberay`): 256 bits, as Ray's own
# `ray get-auth-token --generate` makes them.
RAY_TOKEN_BYTES = 32
# "mounted" on nodes of `cluster up --mount-code`: they run the project's working-tree code, and so does a driver.
LABEL_CLUSTER_CODE = "curator-kit.cluster-code"
