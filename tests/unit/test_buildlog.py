from curator_kit.core.build.buildlog import (
    BuildFailed,
    BuildSucceeded,
    StepCached,
    StepOutput,
    StepStarted,
    parse_build_stream,
)


def test_steps_output_cache_and_success():
    chunks = [
        {"stream": "Step 1/3 : FROM debian\n"},
        {"stream": " ---> 0123456789ab\n"},
        {"stream": "Step 2/3 : RUN echo hi"},
        {"stream": "\n ---> Using cache\n"},
        {"stream": "Step 3/3 : RUN make\n ---> Running in abcdef\npart"},
        {"stream": "ial line\n"},
        {"stream": "Removing intermediate container abcdef\n"},
        {"aux": {"ID": "sha256:feed"}},
        {"stream": "Successfully built feed\nSuccessfully tagged x:y\n"},
    ]
    events = list(parse_build_stream(chunks))
    assert events == [
        StepStarted(1, 3, "FROM debian"),
        StepStarted(2, 3, "RUN echo hi"),
        StepCached(2),
        StepStarted(3, 3, "RUN make"),
        StepOutput(3, "partial line"),
        BuildSucceeded("sha256:feed"),
    ]


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
