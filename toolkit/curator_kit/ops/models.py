"""`curator-kit models pull` and `models list`: fill and show the host's weights cache.

A pull runs the project's own `download_weights_on_node` in the project's image, as a run's stages
would, with the cache mounted writable; a token reaches it only as a read-only file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.constants import HF_TOKEN_IN_CONTAINER
from curator_kit.core.parsers import Mount
from curator_kit.ops.hftoken import hf_token_file
from curator_kit.ops.launch import give_to_user

if TYPE_CHECKING:
    from curator_kit.core.pipeline.modelweights import WeightsFacts
    from curator_kit.core.project.manifest import Manifest, ModelSpec
    from curator_kit.core.run.runplan import HostFacts
    from curator_kit.ops.launch import EngineSession, Say

# Host settings a pull passes on: a mirror or a test hub (HF_ENDPOINT), and where the hub's own client looks.
FORWARDED_ENV = ("HF_ENDPOINT",)


@dataclass(frozen=True)
class ModelRow:
    name: str
    source: str  # repo@revision
    place: str  # baked | cached | missing
    size_bytes: int | None  # of the cached copy; None when not on this host


@contextmanager
def token_mount(host: HostFacts) -> Iterator[Mount | None]:
    """The host's token as a read-only file mount: HF_TOKEN goes into a private temporary file (mode
    0600, removed afterwards), so its value is never an argument, an environment entry or a label."""
    value = os.environ.get("HF_TOKEN", "").strip()
    if not value:
        found = hf_token_file()
        yield Mount(str(found.resolve()), HF_TOKEN_IN_CONTAINER, read_only=True) if found else None
        return
    with tempfile.TemporaryDirectory(prefix="curator-kit-hf-") as private:
        path = Path(private) / "token"
        path.touch(mode=0o600)
        path.write_text(value)
        give_to_user(path, host)  # the container runs as this user: the file stays 0600, theirs
        yield Mount(str(path), HF_TOKEN_IN_CONTAINER, read_only=True)


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def model_rows(manifest: Manifest, facts: WeightsFacts) -> list[ModelRow]:
    rows = []
    for model in manifest.models:
        place = facts.place(model)
        size = tree_size(facts.cache_dir / model.name) if place == "cached" else None
        rows.append(ModelRow(model.name, f"{model.hf_repo}@{model.revision}", place, size))
    return rows


def to_pull(models: list[ModelSpec], facts: WeightsFacts) -> list[ModelSpec]:
    return [model for model in models if facts.place(model) == "missing"]


def pull(
    manifest: Manifest, project_dir: Path, image: str, names: tuple[str, ...], session: EngineSession, say: Say
) -> int:
    """Download the missing ones of `names` (all models when empty); 0 with nothing to do."""
    from curator_kit.core.findings import decide
    from curator_kit.core.pipeline.modelweights import pull_command, select_models
    from curator_kit.core.run.runplan import RunOptions, plan_run
    from curator_kit.engine.containers import run_plan
    from curator_kit.ops.launch import check_image, fit_to_engine, image_home, planning_spec
    from curator_kit.ops.modelcache import ensure_model_dirs, weights_facts

    wanted = select_models(manifest, names)
    check_image(session.client, image)
    facts = weights_facts(manifest, project_dir, session.host, session.client, image)
    if facts is None or not (missing := to_pull(wanted, facts)):
        say("every model asked for is baked or in the cache: nothing to pull", "green")
        return 0
    spec, _ = planning_spec(session.client, image, manifest, project_dir, runs_pipeline=False)
    with token_mount(session.host) as token:
        env = tuple((key, os.environ[key]) for key in FORWARDED_ENV if os.environ.get(key))
        if token is not None:
            env += (("HF_TOKEN_PATH", HF_TOKEN_IN_CONTAINER),)
        options = RunOptions(
            input_dir=project_dir,
            output_dir=project_dir,
            image=image,
            command=tuple(pull_command(missing)),
            env=env,
            mounts=(token,) if token is not None else (),
            mount_data=False,
            weights=facts,
            weights_writable=True,
            image_home=image_home(session.client, image),
        )
        plan = plan_run(manifest, spec, project_dir, options, session.host)
        plan = replace(plan, name=f"{manifest.project.name}-pull-{plan.run_id}")
        fit_to_engine(plan, session)
        decide(plan.findings)  # the run's own rules (risky [run] mounts) before anything is made
        ensure_model_dirs(plan.model_dirs)
        say(f"pulling {', '.join(m.name for m in missing)} into {facts.cache_dir} with {image}", "cyan")
        return run_plan(session.client, plan)
