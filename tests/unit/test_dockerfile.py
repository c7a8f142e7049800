"""The generated Dockerfile: golden for a fixed manifest, and ordered for the build cache."""

from pathlib import Path

from curator_kit import __version__
from curator_kit.core.build.dockerfile import codec_needs, facts_step, render_dockerfile, stage_records
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.core.project.manifest import ClippingSettings

GOLDEN = Path(__file__).parent / "golden"


def spec_of(manifest):
    """The pipeline spec `build` resolves for this manifest (no project sources: no project writer)."""
    return resolve_spec(manifest, Path("/nonexistent"))


def golden_manifest():
    return parse_manifest((GOLDEN / "manifest.toml").read_text())


def render_golden() -> str:
    # The toolkit version is a label value; keep the golden file independent of releases.
    return render_dockerfile(golden_manifest(), spec_of(golden_manifest())).replace(__version__, "TOOLKIT_VERSION")


def test_matches_golden_byte_for_byte():
    assert render_golden() == (GOLDEN / "Dockerfile.golden").read_text()


def test_stable_across_renders_and_env_order():
    manifest = golden_manifest()
    manifest.envs = dict(reversed(list(manifest.envs.items())))
    golden = golden_manifest()
    assert render_dockerfile(manifest, spec_of(manifest)) == render_dockerfile(golden, spec_of(golden))


def test_cache_order_dependencies_before_code():
    text = render_golden()
    positions = [
        text.index("FROM curator-kit/base:1.4.0-cpu"),
        text.index("apt-get install"),
        text.index("pip install"),
        # the codec probe: after the dependencies, before the weights, the spec and the code (cached on code changes)
        text.index("probe-codecs.py --write"),
        text.index("download_weights_on_node"),
        # the labels and CMD before the code: a code-only change rebuilds one step, the code's COPY
        text.index("LABEL"),
        text.index("CMD "),
        text.index("COPY project/ /workspace/"),
    ]
    assert positions == sorted(positions)
    assert text.rstrip().splitlines()[-1] == "COPY project/ /workspace/"
    # `build` finds the facts step in the builder's output by this line
    assert facts_step("golden-pipeline") in text.splitlines()
    assert "--no-install-recommends" in text and "rm -rf /var/lib/apt/lists/*" in text
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in text
    # apt packages deduplicated across envs and sorted, in one layer
    assert text.count("apt-get install") == 1 and text.index("      jq") < text.index("      libgl1")


def test_minimal_manifest_has_no_optional_layers():
    manifest = parse_manifest('[project]\nname = "tiny"\n')
    text = render_dockerfile(manifest, spec_of(manifest))
    for absent in ("apt-get", "pip install", "update-ca-certificates", "project-deps", "download_weights"):
        assert absent not in text
    assert "COPY project/ /workspace/" in text


def test_labels_carry_stages_and_codec_needs():
    manifest = golden_manifest()
    records = stage_records(manifest)
    assert [r["name"] for r in records] == ["blur_filter", "captioner"]
    assert records[0]["resources"]["nvdecs"] == 1 and records[1]["resources"]["gpus"] == 1.0
    assert codec_needs(spec_of(manifest)) == {
        "blur_filter": {"nvdecs": 1, "nvencs": 0},
        "captioner": {"nvdecs": 0, "nvencs": 1},
    }
    manifest.clipping = ClippingSettings(method="fixed-stride", encoder="h264_nvenc")
    assert list(codec_needs(spec_of(manifest))) == ["clipping (h264_nvenc)", "blur_filter", "captioner"]
    manifest.clipping.encoder = "libvpx-vp9"
    assert list(codec_needs(spec_of(manifest))) == ["blur_filter", "captioner"]


def test_team_template_overrides(tmp_path):
    (tmp_path / "Dockerfile.j2").write_text("FROM {{ base_image }}\n# team template\n")
    manifest = golden_manifest()
    assert (
        render_dockerfile(manifest, spec_of(manifest), tmp_path) == "FROM curator-kit/base:1.4.0-cpu\n# team template\n"
    )


def test_wheelhouse_stage_creates_the_prefix_even_when_pip_installs_nothing():
    # Bug: with a wheelhouse and only requirements the base image already has (`new-env --pip av`),
    # pip created no /tmp/deps and the build failed at `COPY --from=project-deps /tmp/deps/`.
    manifest = parse_manifest('[project]\nname = "p"\n[envs.media]\npip = ["av"]\n[build]\nwheelhouse = "wheels"\n')
    lines = render_dockerfile(manifest, spec_of(manifest)).splitlines()
    deps_stage = lines.index("FROM project-base AS project-deps")
    mkdir = lines.index("RUN mkdir -p /tmp/deps \\")
    install = next(i for i, line in enumerate(lines) if "pip install" in line and "--prefix=/tmp/deps" in line)
    copy = lines.index("COPY --from=project-deps /tmp/deps/ /opt/venv/")
    assert deps_stage < mkdir < install < copy
    assert lines[install].startswith(" && ")  # one RUN: the directory and the install are one layer
