"""No credential is stored or printed: index URLs reach only the throwaway container that runs the last
step of a throwaway stage, as a mounted file, never the builder; every line that shows one masks it;
build output is plain text; CA certificates are certificates."""

from __future__ import annotations

import base64
import io
import os
import re
import signal
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core import parsers
from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
from curator_kit.core.build.buildlog import BuildFailed, StepOutput, parse_build_stream
from curator_kit.core.build.buildstages import final_image_stages, parse_stages
from curator_kit.core.build.credentials import PIP_INDEX_ARGS, check_secrets_stay_out
from curator_kit.core.build.dockerfile import DEPS_STAGE, build_secrets, render_dockerfile
from curator_kit.core.build.pipconfig import PipSettings
from curator_kit.core.build.secretsteps import plan_secret_steps
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import load_manifest
from curator_kit.core.redact import mask_credentials, printable_line, strip_terminal_codes
from curator_kit.engine.images import BuildInterrupted, build_image
from curator_kit.errors import CuratorKitError
from curator_kit.ops.build import plan_project_build
from curator_kit.ops.progress import LiveProgress, PlainProgress
from curator_kit.resources import dockerfile_base

SECRET = "s3cr3t-SENTINEL"
INDEX = f"https://ci-bot:{SECRET}@pypi.corp.example/simple"
EXTRA = f"https://{SECRET}@extra.corp.example/simple"  # a bare token, as some registries issue
PEM = "-----BEGIN CERTIFICATE-----\nMIIBsample0certificate0body0AAAA\n-----END CERTIFICATE-----\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scaffolded project with a pip requirement and credentialed index URLs."""
    monkeypatch.chdir(tmp_path)
    assert run("init", "secretive")[0] == 0
    root = tmp_path / "secretive"
    monkeypatch.chdir(root)
    assert run("new-env", "tools", "--pip", "tabulate==0.9.0")[0] == 0
    manifest = root / "curator-kit.toml"
    text = manifest.read_text().replace('pip_index_url = ""', f'pip_index_url = "{INDEX}"')
    text = text.replace("pip_extra_index_urls = []", f'pip_extra_index_urls = ["{EXTRA}"]')
    assert SECRET in text
    manifest.write_text(text)
    return root


# ---------------------------------------------------------------- masking


def test_mask_credentials_spells_them_as_pip_does() -> None:
    assert mask_credentials(INDEX) == "https://ci-bot:****@pypi.corp.example/simple"
    assert mask_credentials(EXTRA) == "https://****@extra.corp.example/simple"
    line = f"Looking in indexes: {INDEX}, https://pypi.org/simple, {EXTRA}"
    assert SECRET not in mask_credentials(line) and "https://pypi.org/simple" in mask_credentials(line)
    assert mask_credentials("https://ci:p@ss@host/simple") == "https://ci:****@host/simple"  # an unencoded @
    for untouched in ("user@example.com", "https://pypi.org/simple", "see https://host/a@b"):
        assert mask_credentials(untouched) == untouched


def test_terminal_codes_are_stripped() -> None:
    coloured = "\x1b[1;31mERROR\x1b[0m: \x1b]0;title\x07no \x1b(Bmatch\x1b[2K\x1b[1G"
    assert strip_terminal_codes(coloured) == "ERROR: no match"
    assert printable_line(f"\x1b[33m{INDEX}\x1b[0m") == "https://ci-bot:****@pypi.corp.example/simple"


def test_build_log_lines_and_errors_are_plain_and_masked() -> None:
    chunks = [
        {"stream": "Step 3/9 : RUN pip install x\n"},
        {"stream": f"\x1b[32mLooking in indexes: {INDEX}\x1b[0m\n"},
        {"error": f"\x1b[31mfailed to fetch {EXTRA}\x1b[0m"},
    ]
    events = list(parse_build_stream(chunks))
    assert events[1] == StepOutput(3, "Looking in indexes: https://ci-bot:****@pypi.corp.example/simple")
    failure = events[-1]
    assert (
        isinstance(failure, BuildFailed) and failure.message == "failed to fetch https://****@extra.corp.example/simple"
    )
    assert all("\x1b" not in line and SECRET not in line for line in failure.tail)


@pytest.mark.parametrize("progress_class", [PlainProgress, LiveProgress])
def test_progress_prints_no_escape_code_of_the_build_and_no_secret(progress_class) -> None:
    stream = io.StringIO()
    progress = progress_class(stream)
    for event in parse_build_stream([{"stream": f"Step 1/1 : RUN x\n\x1b[31mred\x1b[0m {INDEX}\n"}]):
        progress.handle(event)
    shown = stream.getvalue()
    assert SECRET not in shown and "red" in shown and "\x1b[31m" not in shown


# ---------------------------------------------------------------- the project build


def test_dockerfile_holds_no_secret_and_only_the_throwaway_stages_last_step_reads_pip_config(project: Path) -> None:
    manifest = load_manifest(project)
    text = render_dockerfile(manifest, resolve_spec(manifest, project))
    assert SECRET not in text and "index-url" not in text and "corp.example" not in text
    stages = parse_stages(text)
    (secret,) = build_secrets(manifest)
    assert secret.stages == (DEPS_STAGE,) and DEPS_STAGE not in [s.name for s in final_image_stages(stages)]
    assert not [s.name for s in stages for _, sources in s.context_reads if any("secrets" in x for x in sources)]
    check_secrets_stay_out(text)
    # The variable is set on the pip command alone: no ENV, so no later step or the image keeps it.
    (pip_line,) = [line for line in text.splitlines() if "pip install" in line]
    assert f"PIP_CONFIG_FILE={secret.in_stage} pip install" in pip_line
    assert not any(line.startswith(("ENV", "ARG")) and "PIP_CONFIG_FILE" in line for line in text.splitlines())
    # That command is the stage's last step: the one a secret step runs, outside the builder.
    (step,) = plan_secret_steps(text, [secret])
    assert step.stage == DEPS_STAGE and step.secrets == (secret,) and len(step.runs) == 1
    assert f"PIP_CONFIG_FILE={secret.in_stage} pip install" in step.runs[0]


def test_the_context_never_carries_the_secret_and_the_plan_prints_it_masked(project: Path) -> None:
    plan = plan_project_build(project, load_manifest(project))
    assert not [name for name in plan.context.files if "secrets" in name]
    assert not [
        name for name, data in plan.context.files.items() if isinstance(data, bytes) and SECRET.encode() in data
    ]
    (secret,) = plan.secrets
    assert f"index-url = {INDEX}" in secret.content and f"extra-index-url = {EXTRA}" in secret.content
    assert not (project / ".curator-kit" / "secrets").exists()  # never on disk in the project
    in_image = plan.context.files["project/curator-kit.toml"].decode()  # the manifest the image keeps
    assert SECRET not in in_image and 'pip_index_url = "https://ci-bot:****@pypi.corp.example/simple"' in in_image
    (step,) = plan.steps
    assert SECRET not in " ".join(step.command()) and SECRET not in repr(step)  # what the container runs
    described = "\n".join(plan.describe())
    assert SECRET not in described and "https://ci-bot:****@pypi.corp.example/simple" in described
    assert "step      project-deps: last RUN in a throwaway container, pip.conf mounted" in described
    assert SECRET not in repr(plan.secrets)


def test_dry_run_and_dockerfile_commands_print_no_secret(project: Path) -> None:
    code, output = run("build", "--dry-run")
    assert code == 0 and SECRET not in output and "ci-bot:****@pypi.corp.example" in output
    code, output = run("dockerfile")
    assert code == 0 and SECRET not in output and "PIP_CONFIG_FILE" in output


def test_without_requirements_no_secret_travels(project: Path) -> None:
    manifest = load_manifest(project)
    manifest.envs.clear()
    assert build_secrets(manifest) == []
    assert "secrets" not in render_dockerfile(manifest, resolve_spec(manifest, project))


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        # no stage reads the index settings: pip would quietly use another index
        ("FROM {{ base_image | bare_word }}\nCOPY . /src\n", "has no stage project-deps, which reads pip.conf"),
        # the stage that reads them is the final image
        ("FROM {{ base_image | bare_word }} AS project-deps\nRUN pip x\n", "project-deps reads pip.conf but is part"),
        # nothing ends the stage that could read them
        (
            "FROM b AS project-deps\nRUN pip x\nCOPY a /a\nFROM b\nCOPY --from=project-deps /a /a\n",
            "project-deps reads pip.conf but does not end with a RUN",
        ),
        # an old template that still copies the file from the context
        (
            "FROM b AS project-deps\nCOPY .curator-kit/secrets/pip.conf /p\nRUN pip x\nFROM b\n",
            "copies .curator-kit/secrets from the build context",
        ),
    ],
)
def test_a_team_template_that_would_keep_or_lose_the_secret_is_refused(
    project: Path, tmp_path: Path, template: str, refusal: str
) -> None:
    team = tmp_path / "team"
    team.mkdir()
    (team / "Dockerfile.j2").write_text(template)
    with pytest.raises(CuratorKitError, match=re.escape(refusal)):
        plan_project_build(project, load_manifest(project), templates=team)


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM b AS base\nCOPY .curator-kit/secrets/pip.conf /p\nFROM base\n",  # a stage the final one is FROM
        "FROM b\nCOPY .curator-kit/secrets/*.conf /p\n",  # a wildcard
        "FROM b AS deps\nCOPY ./.curator-kit/secrets/ /s/\nRUN pip x\nFROM b\n",  # a throwaway stage too
    ],
)
def test_reading_secrets_from_the_context_is_refused_in_any_stage(dockerfile: str) -> None:
    with pytest.raises(CuratorKitError, match=re.escape("copies .curator-kit/secrets from the build context")) as error:
        check_secrets_stay_out(dockerfile)
    assert "secrets are never in the build context" in error.value.one_line()


def test_copying_the_whole_context_is_no_secret_leak() -> None:
    check_secrets_stay_out('FROM b AS deps\nFROM deps\nCOPY .curator-kit/ /x/\nADD ["./", "/src"]\n')


def test_secret_build_args_only_in_a_throwaway_stage() -> None:
    check_secrets_stay_out(
        "FROM b AS deps\nARG PIP_INDEX_URL\nRUN pip x\nFROM b\nCOPY --from=deps /a /a\n", args=["PIP_INDEX_URL"]
    )
    with pytest.raises(CuratorKitError, match="declares ARG PIP_INDEX_URL: its value would stay in the image history"):
        check_secrets_stay_out("FROM b AS sys\nARG PIP_INDEX_URL\nFROM sys\n", args=["PIP_INDEX_URL"])


# ---------------------------------------------------------------- the base build


def test_base_recipe_declares_index_args_only_in_its_throwaway_stage() -> None:
    text = dockerfile_base().read_text()
    check_secrets_stay_out(text, args=PIP_INDEX_ARGS)
    declared = [stage for stage in parse_stages(text) if "PIP_INDEX_URL" in stage.args]
    assert declared and all(stage not in final_image_stages(parse_stages(text)) for stage in declared)


def test_base_build_with_index_credentials_passes_no_build_arg_and_mounts_a_pip_config() -> None:
    links = f"https://u:{SECRET}@links.example/"
    options = BaseBuildOptions(pip_index_url=INDEX, pip_extra_index_urls=(EXTRA,))
    plan = plan_base_build(options, PipSettings(find_links=(links,)))
    assert not set(PIP_INDEX_ARGS) & set(plan.build_args) and SECRET not in str(plan.build_args)
    (secret,) = plan.secrets
    assert (secret.name, secret.env, secret.stages) == ("pip.conf", "PIP_CONFIG_FILE", ("venv",))
    torch_index = plan.torch_index_url  # the cpu variant's, with the extra index
    assert secret.content == (
        f"[global]\nindex-url = {INDEX}\nextra-index-url = {EXTRA} {torch_index}\nfind-links = {links}\n"
    )
    dropped = plan.without_torch_index("does not answer")  # the torch index gone: the secret follows
    assert torch_index not in dropped.secrets[0].content and not set(PIP_INDEX_ARGS) & set(dropped.build_args)
    assert dropped.steps[0].secrets == (dropped.secrets[0],)
    (step,) = plan.steps
    assert step.stage == "venv" and step.tag == plan.stage_tag("venv") and step.secrets == (secret,)
    assert "PIP_CONFIG_FILE=/tmp/curator-kit-secrets/pip.conf" in step.script() and SECRET not in step.script()
    assert ("CURATOR_VERSION", "1.4.0") in step.args  # the stage's build args, as the builder would set them
    described = "\n".join(plan.describe())
    assert SECRET not in described and "secret    pip.conf for stage venv only: https://ci-bot:****@pypi" in described
    assert "step      venv: last RUN in a throwaway container, pip.conf mounted" in described


def test_base_build_without_credentials_passes_index_build_args_as_before() -> None:
    plan = plan_base_build(BaseBuildOptions(pip_index_url="https://pypi.corp.example/simple"), PipSettings())
    assert plan.build_args["PIP_INDEX_URL"] == "https://pypi.corp.example/simple"
    assert plan.secrets == [] and plan.steps == []


def test_every_cuda_recipe_stage_that_declares_index_args_is_a_step() -> None:
    plan = plan_base_build(BaseBuildOptions(variant="cuda", pip_index_url=INDEX), PipSettings())
    assert [step.stage for step in plan.steps] == ["cudastack", "pycuda", "venv"]
    assert plan.secrets[0].stages == ("cudastack", "pycuda", "venv")
    assert all(len(step.runs) == 1 for step in plan.steps)  # pycuda's apt-get RUN stays the builder's
    assert "build-pycuda.sh" in plan.steps[1].runs[0] and "apt-get" not in plan.steps[1].runs[0]


def test_base_build_option_is_parsed_and_refusal_masked() -> None:
    code, output = run("base", "build", "--dry-run", "--no-host-pip", "--pip-index-url", f"ftp://u:{SECRET}@h/")
    assert code == 1 and SECRET not in output and "--pip-index-url 'ftp://u:****@h/' is not an index URL" in output


# ---------------------------------------------------------------- errors and interrupts


@pytest.fixture(autouse=True)
def curator_kit_base_layout(monkeypatch) -> None:
    """`build` reads the base image's layout before planning; FakeEngine's base is curator-kit's (pip)."""
    from curator_kit.core.build.baselayout import PIP_LAYOUT

    monkeypatch.setattr("curator_kit.ops.baselayout.read_base_layout", lambda client, image: PIP_LAYOUT)


class FakeEngine:
    """Just enough of docker.DockerClient for execute_project_build: the base image exists; the
    build stream is `stream(kwargs)`."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.images = self
        self.api = self

    def version(self) -> dict:  # a Docker engine (engine.identity)
        return {"Version": "20.10.24", "ApiVersion": "1.41"}

    def info(self) -> dict:
        return {}

    def get(self, reference: str) -> object:
        return type("Image", (), {"attrs": {}, "id": "sha256:base"})()

    def build(self, **kwargs):
        return self.stream(kwargs)


def _interrupted_stream(signum: int):
    def stream(kwargs):
        yield {"stream": "Step 1/9 : FROM curator-kit/base:1.4.0-cpu AS project-base\n"}
        os.kill(os.getpid(), signum)
        yield {"stream": "never reached\n"}

    return stream


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_build_exits_like_an_interrupted_run(project, monkeypatch, signum, code) -> None:
    monkeypatch.setattr("curator_kit.engine.client.connect", lambda: FakeEngine(_interrupted_stream(signum)))
    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1] == (
        f"error: build interrupted ({signal.Signals(signum).name}) -- run the same command again: "
        "the steps that finished come from the build cache"
    )
    assert "Traceback" not in result.output and "never reached" not in result.output
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored


def test_interrupt_ends_a_live_display_before_the_error_line() -> None:
    from curator_kit.core.build.buildcontext import BuildContext

    stream = io.StringIO()
    context = BuildContext()
    context.add_text("Dockerfile", "FROM x\n")
    with pytest.raises(BuildInterrupted) as error:
        build_image(FakeEngine(_interrupted_stream(signal.SIGINT)), context, tag="t", progress=LiveProgress(stream))
    assert error.value.exit_code == 130
    assert stream.getvalue().endswith("\r\x1b[2K")  # the status line is cleared


def test_engine_errors_never_quote_the_request(project: Path) -> None:
    from docker.errors import APIError
    from requests.exceptions import ConnectionError as RequestsConnectionError

    quoted = f"/v1.41/build?buildargs=%7B%22PIP_INDEX_URL%22%3A+%22https%3A%2F%2Fu%3A{SECRET}%40h%22%7D"

    def refused(kwargs):
        raise APIError(f"500 Server Error for http+docker://localhost{quoted}")

    def dropped(kwargs):
        raise RequestsConnectionError(f"Max retries exceeded with url: {quoted}")
        yield

    from curator_kit.core.build.buildcontext import BuildContext

    for stream in (refused, dropped):
        with pytest.raises(CuratorKitError) as error:
            build_image(FakeEngine(stream), BuildContext(), tag="t", progress=PlainProgress(io.StringIO()))
        assert SECRET not in error.value.one_line() and "could not build t" in error.value.message


class FakeStepEngine(FakeEngine):
    """FakeEngine with the images and containers a secret step uses: records every build request and
    what the step's container saw in its mount while it ran."""

    def __init__(self) -> None:
        super().__init__(self._build_stream)
        self.containers = self
        self.requests: list[dict] = []
        self.mounted: dict[str, str] = {}
        self.modes: dict[str, int] = {}
        self.committed: dict = {}

    def _build_stream(self, kwargs):
        with tarfile.open(fileobj=kwargs["fileobj"]) as archive:
            files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
        self.requests.append({**kwargs, "files": files})
        yield {"stream": "Step 1/1 : FROM x\n"}
        yield {"aux": {"ID": "sha256:" + f"{len(self.requests):02d}" * 32}}

    def get(self, reference: str):
        return type("Image", (), {"attrs": {"Config": {"Cmd": ["python"]}}, "id": reference})()

    def list(self, **kwargs):
        return []  # no earlier step result: the step runs

    def create(self, image, entrypoint, command, mounts, ulimits):
        assert ulimits == []  # Docker: the engine's defaults (Podman's are named: ops.dockerd_limits)
        engine = self
        (mount,) = mounts
        source = Path(mount["Source"])

        class Container:
            id = "c0"

            def start(self):
                engine.modes = {p.name: p.stat().st_mode & 0o777 for p in [source, *source.iterdir()]}
                engine.mounted = {p.name: p.read_text() for p in source.iterdir()}
                engine.committed["argv"] = [*entrypoint, *command]
                engine.committed["mount"] = (mount["Target"], mount["ReadOnly"], str(source))

            def logs(self, stream, follow):
                yield f"Looking in indexes: {INDEX}\n".encode()  # pip masks it; curator-kit masks it too
                yield f"a command that prints the password bare: {SECRET}\n".encode()

            def wait(self):
                return {"StatusCode": 0}

            def commit(self, message, conf):
                engine.committed.update(message=message, conf=conf)
                return type("Image", (), {"id": "sha256:" + "cd" * 32})()

            def remove(self, force):
                engine.committed["removed"] = True

        return Container()


def test_build_never_sends_the_secret_to_the_builder_and_mounts_it_for_the_step(project: Path, monkeypatch) -> None:
    engine = FakeStepEngine()
    monkeypatch.setattr("curator_kit.engine.client.connect", lambda: engine)
    # The facts labels are checked against the image (a label-only build when it moved): not this test's.
    monkeypatch.setattr(
        "curator_kit.ops.build.record_facts", lambda _client, _plan, image_id, known, *_rest: (image_id, known)
    )
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "ci-bot:****@pypi.corp.example" in result.output
    assert "a command that prints the password bare: ****" in result.output
    prefix, final = engine.requests
    for request in (prefix, final):  # the builder: no secret in the context, the args, the Dockerfile
        assert not [name for name, data in request["files"].items() if SECRET.encode() in data]
        assert SECRET not in str(request["buildargs"])
    assert prefix["target"] == DEPS_STAGE and "pip install" not in prefix["files"]["Dockerfile"].decode()
    assert f"FROM {'sha256:' + 'cd' * 32} AS project-deps\n" in final["files"]["Dockerfile"].decode()
    # the container: the settings as a read-only mount of a private directory, gone afterwards
    target, read_only, source = engine.committed["mount"]
    assert (target, read_only) == ("/tmp/curator-kit-secrets", True) and not Path(source).exists()
    assert f"index-url = {INDEX}" in engine.mounted["pip.conf"]
    assert engine.modes == {Path(source).name: 0o700, "pip.conf": 0o600}
    assert SECRET not in str(engine.committed["argv"]) and "pip install" in engine.committed["argv"][-1]
    assert engine.committed["removed"] and SECRET not in str(engine.committed["conf"])
    assert engine.committed["conf"]["Labels"]["curator-kit.build-step"] in engine.committed["message"]


def test_step_output_masks_the_secrets_bare_values_too() -> None:
    from curator_kit.core.build.credentials import hf_token_secret, index_secret
    from curator_kit.ops.secretsteps import secret_words

    pip = index_secret("pip", INDEX, (EXTRA, "https://x:y@short.example/simple"), ("deps",))
    token = hf_token_secret("hf_tokenSENTINEL", ("model-weights-a",))
    # the password, not the user; a bare token (a user part without password); a secret without a URL whole
    assert secret_words([pip, token]) == sorted([SECRET, "hf_tokenSENTINEL"], key=len, reverse=True)


# ---------------------------------------------------------------- CA certificates


def _der_pem(body: bytes, label: str = "CERTIFICATE") -> str:
    return f"-----BEGIN {label}-----\n{base64.encodebytes(body).decode()}-----END {label}-----\n"


def test_pem_certificates_and_bundles_are_accepted() -> None:
    assert parsers.parse_pem_certificates(PEM.encode()) == 1
    bundle = "# Issuer: CN=Corp Root\n" + PEM + "\n# Issuer: CN=Proxy\n" + _der_pem(b"0\x82\x01\x0a" + bytes(40))
    assert parsers.parse_pem_certificates(bundle.encode()) == 2


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (_der_pem(b"0\x82" + bytes(60), "PRIVATE KEY"), "it holds a private key (-----BEGIN PRIVATE KEY-----)"),
        (PEM + _der_pem(b"0\x82" + bytes(60), "RSA PRIVATE KEY"), "private key (-----BEGIN RSA PRIVATE KEY-----)"),
        (_der_pem(b"0\x82" + bytes(60), "CERTIFICATE REQUEST"), "it holds a CERTIFICATE REQUEST block"),
        ("just some text\n", "it has no -----BEGIN CERTIFICATE----- block"),
        ("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", "not base64 of a DER"),
        (_der_pem(b"hello, not DER"), "certificate 1 is not base64 of a DER certificate"),
        ("-----BEGIN CERTIFICATE-----\nMIIB\n", "has no -----END CERTIFICATE----- line"),
        ("\x30\x82\x01\xff\x80binary DER", "it is not text"),
    ],
)
def test_anything_but_certificates_is_refused(tmp_path: Path, project: Path, content: str, why: str) -> None:
    (project / "corp.pem").write_bytes(content.encode("latin-1"))
    manifest = project / "curator-kit.toml"
    manifest.write_text(manifest.read_text().replace("ca_certs = []", 'ca_certs = ["corp.pem"]'))
    with pytest.raises(CuratorKitError) as error:
        plan_project_build(project, load_manifest(project))
    line = error.value.one_line()
    assert line.startswith(f"CA certificate {project / 'corp.pem'} (build.ca_certs in curator-kit.toml) is not a PEM")
    assert why in line and "\n" not in line
    assert "MIIB" not in line and "AAAA" not in line  # the file's content is never quoted
