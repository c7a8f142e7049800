"""The plan of secret steps (core/build/secretsteps.py): which stages' last RUN steps run outside the builder,
with what mounted and exported; the Dockerfiles the builder gets before and after them; the digest
that lets an unchanged rebuild reuse a step's result."""

from __future__ import annotations

import pytest
from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
from curator_kit.core.build.credentials import hf_token_secret, index_secret
from curator_kit.core.build.dockerfile import DEPS_STAGE, build_secrets, render_dockerfile
from curator_kit.core.build.pipconfig import PipSettings
from curator_kit.core.build.secretsteps import (
    declared_arg_names,
    instructions,
    plan_secret_steps,
    prefix_dockerfile,
    resolved_dockerfile,
    stage_spans,
)
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.errors import CuratorKitError

SECRET = "pa55-SENTINEL"
INDEX = f"https://bot:{SECRET}@pypi.corp.example/simple"
ID_A = "sha256:" + "a" * 64
ID_B = "sha256:" + "b" * 64

RECIPE = """\
ARG BASE_IMAGE=debian
FROM ${BASE_IMAGE} AS system
RUN apt-get update \\
 && apt-get install -y python3

# a stage the builder builds as it is
FROM system AS tools
RUN make tools

FROM system AS deps
ARG VERSION=1.0
ARG BASE_IMAGE
ARG PIP_INDEX_URL
ENV PIP_NO_CACHE_DIR=1
COPY wheels/ /tmp/wheels/
RUN pip install "thing==${VERSION}" \\
# a comment inside a continuation, as Docker allows
      other
RUN ["python", "-c", "print('done')"]

FROM system
COPY --from=tools /t /t
COPY --from=deps /opt/venv /opt/venv
"""


def pip_secret(stages=("deps",), url=INDEX):
    return index_secret("pip", url, (), stages)


def test_instructions_join_continuations_and_skip_comments():
    found = instructions(RECIPE)
    run = next(i for i in found if i.keyword == "RUN" and "thing" in i.arguments)
    assert run.arguments == 'pip install "thing==${VERSION}"       other'
    assert (
        RECIPE.splitlines()[run.first].startswith("RUN pip install")
        and RECIPE.splitlines()[run.end - 1].strip() == "other"
    )
    assert [span.name for span in stage_spans(RECIPE)] == ["system", "tools", "deps", ""]
    assert declared_arg_names(RECIPE) == {"BASE_IMAGE", "VERSION", "PIP_INDEX_URL"}


def test_a_step_runs_the_stages_trailing_runs_with_its_args_and_the_secret_mounted():
    (step,) = plan_secret_steps(RECIPE, [pip_secret()], {"VERSION": "2.0", "BASE_IMAGE": "img:1"})
    assert step.stage == "deps" and step.mount == "/tmp/curator-kit-secrets"
    assert step.runs == ('pip install "thing==${VERSION}"       other', "python -c 'print('\"'\"'done'\"'\"')'")
    # build args override defaults; an ARG without default takes the build's value (or the global one)
    assert step.args == (("VERSION", "2.0"), ("BASE_IMAGE", "img:1"))
    script = step.script()
    assert (
        script.splitlines()[0]
        == "export VERSION=2.0 BASE_IMAGE=img:1 PIP_CONFIG_FILE=/tmp/curator-kit-secrets/pip.conf"
    )
    assert "/bin/sh -c 'pip install" in script and script.count("|| exit $?") == 2
    assert step.command() == ["/bin/sh", "-c", script] and SECRET not in script
    (global_default,) = plan_secret_steps(RECIPE, [pip_secret()], {})
    assert dict(global_default.args) == {"VERSION": "1.0", "BASE_IMAGE": "debian"}


def test_the_builder_gets_the_stage_without_its_last_runs_then_every_other_line_as_written():
    prefix = prefix_dockerfile(RECIPE, "deps", {})
    assert prefix.endswith("COPY wheels/ /tmp/wheels/\n") and "pip install" not in prefix
    assert prefix.startswith(RECIPE[: RECIPE.index("RUN pip install")])  # byte for byte: the same cache keys
    resolved = resolved_dockerfile(RECIPE, {"deps": ID_A})
    head, tail = RECIPE.split("FROM system AS deps\n")
    assert resolved == head + f"FROM {ID_A} AS deps\n" + "FROM system" + tail.split("\nFROM system", 1)[1]
    assert "PIP_INDEX_URL" not in resolved and "pip install" not in resolved
    # a later step's prefix reads the earlier results
    two = RECIPE + "FROM deps AS more\nRUN pip install more\nFROM system\nCOPY --from=more /m /m\n"
    steps = plan_secret_steps(two, [pip_secret(("deps", "more"))])
    assert [s.stage for s in steps] == ["deps", "more"]
    assert f"FROM {ID_A} AS deps\n" in prefix_dockerfile(two, "more", {"deps": ID_A})


def test_only_image_ids_become_from_lines():
    with pytest.raises(CuratorKitError, match="not an image id"):
        resolved_dockerfile(RECIPE, {"deps": "evil\nRUN curl x"})


def test_the_digest_follows_the_inputs_and_not_the_password():
    (step,) = plan_secret_steps(RECIPE, [pip_secret()])
    assert step.digest(ID_A) == step.digest(ID_A) != step.digest(ID_B)  # the stage's prefix image
    (new_password,) = plan_secret_steps(RECIPE, [pip_secret(url=INDEX.replace(SECRET, "other"))])
    assert new_password.digest(ID_A) == step.digest(ID_A)  # the same index, another password: reused
    (other_index,) = plan_secret_steps(RECIPE, [pip_secret(url=INDEX.replace("corp", "other"))])
    assert other_index.digest(ID_A) != step.digest(ID_A)
    (other_args,) = plan_secret_steps(RECIPE, [pip_secret()], {"VERSION": "3"})
    assert other_args.digest(ID_A) != step.digest(ID_A)
    assert step.digest(ID_A) in step.comment(step.digest(ID_A)) and SECRET not in repr(step)


@pytest.mark.parametrize(
    ("dockerfile", "refusal"),
    [
        ("FROM b AS other\nRUN x\nFROM b\n", "has no stage deps, which reads pip.conf"),
        ("FROM b AS deps\nRUN pip x\n", "deps reads pip.conf but is part of the final image"),
        ("FROM b AS deps\nRUN pip x\nFROM deps\nRUN y\n", "deps reads pip.conf but is part of the final image"),
        ("FROM b AS deps\nRUN pip x\nCOPY a b\nFROM b\n", "deps reads pip.conf but does not end with a RUN"),
    ],
)
def test_a_stage_that_would_keep_or_never_read_a_secret_is_refused(dockerfile, refusal):
    with pytest.raises(CuratorKitError, match=refusal):
        plan_secret_steps(dockerfile, [pip_secret()])


def test_describe_masks_and_says_what_is_mounted_where():
    (step,) = plan_secret_steps(RECIPE, [pip_secret()], {"VERSION": f"https://u:{SECRET}@h/x"}, lambda s: f"t:{s}")
    lines = step.describe()
    assert SECRET not in "\n".join(lines)
    assert lines[0] == (
        "step      deps: last 2 RUN steps in a throwaway container, pip.conf mounted read-only at"
        " /tmp/curator-kit-secrets; committed, tagged t:deps, reused while its inputs are unchanged"
    )
    assert "step      deps exports VERSION=https://u:****@h/x" in lines


# ---------------------------------------------------------------- the project's Dockerfile

MANIFEST = f"""
[project]
name = "p"
[envs.tools]
pip = ["six"]
[build]
pip_index_url = "{INDEX}"
[[models]]
name = "alpha"
module = "models.alpha"
class = "Alpha"
hf_repo = "org/alpha"
bake = true
[[models]]
name = "beta"
module = "models.beta"
class = "Beta"
hf_repo = "org/beta"
bake = true
[[models]]
name = "gamma"
module = "models.gamma"
class = "Gamma"
hf_repo = "org/gamma"
"""


def test_project_steps_install_requirements_and_download_each_baked_model(tmp_path):
    manifest = parse_manifest(MANIFEST)
    secrets = build_secrets(manifest, hf_token=f"hf_{SECRET}")
    assert [(s.name, s.stages) for s in secrets] == [
        ("pip.conf", (DEPS_STAGE,)),
        ("hf-token", ("model-weights-alpha", "model-weights-beta")),
    ]
    text = render_dockerfile(manifest, resolve_spec(manifest, tmp_path), secrets=secrets)
    steps = plan_secret_steps(text, secrets)
    assert [(s.stage, [x.name for x in s.secrets]) for s in steps] == [
        ("project-deps", ["pip.conf"]),
        ("model-weights-alpha", ["hf-token"]),
        ("model-weights-beta", ["hf-token"]),
    ]
    alpha = steps[1]
    assert "HF_TOKEN_PATH=/tmp/curator-kit-secrets/hf-token" in alpha.script() and "alpha" in alpha.runs[0]
    prefix = prefix_dockerfile(text, "model-weights-alpha", {DEPS_STAGE: ID_A})
    assert (
        prefix.rstrip().endswith("/opt/curator-kit/bake/models/alpha.py") and f"FROM {ID_A} AS project-deps" in prefix
    )
    resolved = resolved_dockerfile(text, {s.stage: ID_B for s in steps})
    assert "download_weights_on_node" not in resolved and "pip install" not in resolved
    assert "COPY --from=model-weights-beta /opt/models/beta/ /opt/models/beta/" in resolved
    assert SECRET not in text + resolved


def test_without_a_token_or_an_index_no_step_runs(tmp_path):
    manifest = parse_manifest(MANIFEST.replace(f'pip_index_url = "{INDEX}"', ""))
    secrets = build_secrets(manifest)  # no token on the host: anonymous downloads, in the builder
    assert secrets == [] and hf_token_secret("", ("x",)) is None
    text = render_dockerfile(manifest, resolve_spec(manifest, tmp_path), secrets=secrets)
    assert plan_secret_steps(text, secrets) == []


# ---------------------------------------------------------------- the base recipes


@pytest.mark.parametrize("variant", ["cpu", "cuda"])
def test_base_recipe_steps_leave_every_other_stage_byte_for_byte(variant):
    plan = plan_base_build(BaseBuildOptions(variant=variant, pip_index_url=INDEX), PipSettings())
    recipe = plan.dockerfile
    results = {step.stage: ID_A for step in plan.steps}
    resolved = resolved_dockerfile(recipe, results)
    lines = recipe.splitlines(keepends=True)
    for span in stage_spans(recipe):
        if span.name not in results:  # system, ffmpeg, the final stage: the CI base's cached layers
            assert "".join(lines[span.first : span.end]) in resolved
    kept = "".join("".join(lines[s.first : s.end]) for s in stage_spans(recipe) if s.name not in results)
    assert "PIP_INDEX_URL" not in kept  # only the steps' stages name the index args
    assert all(step.tag == plan.stage_tag(step.stage) for step in plan.steps)
