import io
import json
import re
from pathlib import Path

import pytest
from curator_kit.core.build.buildlog import (
    SHOWN_VALUE_CHARS,
    BuildFailed,
    BuildSucceeded,
    StepCached,
    StepImage,
    StepImages,
    StepOutput,
    StepStarted,
    parse_build_stream,
    shown_instruction,
)
from curator_kit.core.build.secretsteps import instructions
from curator_kit.ops.progress import LiveProgress, PlainProgress


def test_steps_output_cache_and_success():
    chunks = [
        {"stream": "Step 1/3 : FROM debian\n"},
        {"stream": " ---> 0123456789ab\n"},
        {"stream": "Step 2/3 : RUN echo hi"},
        {"stream": "\n ---> Using cache\n ---> 00000000cafe\n"},
        {"stream": "Step 3/3 : RUN make\n ---> Running in abcdef\npart"},
        {"stream": "ial line\n"},
        {"stream": "Removing intermediate container abcdef\n ---> 0000000000fe\n"},
        {"aux": {"ID": "sha256:feed"}},
        {"stream": "Successfully built feed\nSuccessfully tagged x:y\n"},
    ]
    events = list(parse_build_stream(chunks))
    assert events == [
        StepStarted(1, 3, "FROM debian"),
        StepImage(1, "0123456789ab"),
        StepStarted(2, 3, "RUN echo hi"),
        StepCached(2),
        StepImage(2, "00000000cafe"),
        StepStarted(3, 3, "RUN make"),
        StepOutput(3, "partial line"),
        StepImage(3, "0000000000fe"),
        BuildSucceeded("sha256:feed"),
    ]


def test_step_images_keeps_the_image_each_instruction_left_and_forwards_every_event():
    shown: list[object] = []
    steps = StepImages(display=type("Display", (), {"handle": lambda _self, event: shown.append(event)})())
    events = [StepStarted(1, 2, "FROM debian"), StepImage(1, "0123456789ab"), StepStarted(2, 2, "RUN make")]
    events += [StepCached(2), StepImage(2, "00000000cafe"), BuildSucceeded("sha256:feed")]
    for event in events:
        steps.handle(event)
    assert steps.by_instruction == {"FROM debian": "0123456789ab", "RUN make": "00000000cafe"}
    assert shown == events


def test_failure_carries_step_and_tail():
    chunks = [{"stream": "Step 4/9 : RUN pip install nope\n"}]
    chunks += [{"stream": f"line {i}\n"} for i in range(40)]
    chunks.append({"error": "The command '/bin/sh -c pip install nope' returned a non-zero code: 1"})
    events = list(parse_build_stream(chunks))
    failure = events[-1]
    assert isinstance(failure, BuildFailed)
    assert failure.step == StepStarted(4, 9, "RUN pip install nope")
    assert failure.tail[-1] == "line 39" and len(failure.tail) == 30
    assert "non-zero code: 1" in failure.message
    assert not any(isinstance(e, BuildSucceeded) for e in events)


# ---------------------------------------------------------------- the step line progress shows

GOLDEN = Path(__file__).parent / "golden" / "Dockerfile.golden"


def _golden_steps(keyword: str) -> list[str]:
    # The step lines as the classic builder prints them: continuation lines joined, their indent kept.
    return [f"{step.keyword} {step.arguments}" for step in instructions(GOLDEN.read_text()) if step.keyword == keyword]


def _pairs(step: str) -> dict[str, str]:
    return {pair[1]: pair[2] for pair in re.finditer(r'([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)', step)}


def test_the_golden_label_step_is_shown_with_its_long_values_cut():
    (label,) = _golden_steps("LABEL")
    shown = shown_instruction(label)
    assert len(label) > 3000 and len(shown) < 1200
    values = _pairs(label)
    spec = values["curator-kit.pipeline-spec"]
    assert len(spec) > 2000
    # A long value: its first 80 characters as written, an ellipsis and its length.
    assert f"curator-kit.pipeline-spec={spec[:SHOWN_VALUE_CHARS]}\u2026 ({len(spec):,} chars)" in shown
    for key, value in values.items():
        if len(value) <= SHOWN_VALUE_CHARS:
            assert f"{key}={value}" in shown  # short values as they are
        else:
            assert f"{key}={value[:SHOWN_VALUE_CHARS]}\u2026 ({len(value):,} chars)" in shown
    assert "\n" not in shown and shown.startswith("LABEL org.opencontainers.image.title=")


def test_short_steps_and_other_instructions_are_shown_as_they_are():
    for step in _golden_steps("ENV"):
        assert shown_instruction(step) == step
    run = "RUN " + " && ".join(["pip install something-long"] * 20)
    assert shown_instruction(run) == run


def test_the_old_env_form_and_the_engines_quoted_labels_are_cut_too():
    value = "x" * 300
    assert shown_instruction(f"ENV PIPELINE_SPEC {value}") == f"ENV PIPELINE_SPEC {value[:80]}\u2026 (300 chars)"
    # A build given labels gets one more step, LABEL "KEY"='VALUE' (the codecs label of a project image).
    codecs = "'" + json.dumps({"decoders": ["h264"] * 200}) + "'"
    shown = shown_instruction(f'LABEL "curator-kit.codecs"={codecs} "curator-kit.x"=\'1\'')
    assert shown == f'LABEL "curator-kit.codecs"={codecs[:80]}\u2026 ({len(codecs):,} chars) "curator-kit.x"=\'1\''
    assert shown_instruction(f"ENV A={value} B=short") == f"ENV A={value[:80]}\u2026 (300 chars) B=short"


@pytest.mark.parametrize("progress_class", [PlainProgress, LiveProgress])
def test_progress_shows_the_cut_line_and_the_event_keeps_the_whole_step(progress_class, monkeypatch):
    monkeypatch.setenv("COLUMNS", "4000")  # a live display cuts its lines at the terminal's width
    (label,) = _golden_steps("LABEL")
    events = list(parse_build_stream([{"stream": f"Step 19/20 : {label}\n"}, {"stream": "Step 20/20 : CMD x\n"}]))
    assert events[0] == StepStarted(19, 20, label)  # what error messages and the image see: all of it
    stream = io.StringIO()
    progress = progress_class(stream)
    for event in events:
        progress.handle(event)
    written = stream.getvalue()
    assert f"[19/20] {shown_instruction(label)}" in written
    assert label not in written and max(len(line) for line in written.splitlines()) < 1200
