"""A two-stage CPU pipeline on XennaExecutor: square numbers, then write per-task sums.

Runs inside the curator base image to prove NeMo Curator, cosmos-xenna and Ray work there.
Usage: python two_stage.py OUTPUT_DIR
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from nemo_curator.backends.xenna import XennaExecutor
from nemo_curator.pipeline import Pipeline
from nemo_curator.stages.base import ProcessingStage
from nemo_curator.stages.resources import Resources
from nemo_curator.tasks import Task


@dataclass
class NumbersTask(Task[list[int]]):
    @property
    def num_items(self) -> int:
        return len(self.data)

    def validate(self) -> bool:
        return all(isinstance(n, int) for n in self.data)


class SquareStage(ProcessingStage[NumbersTask, NumbersTask]):
    name = "square"
    resources = Resources(cpus=0.5)

    def process(self, task: NumbersTask) -> NumbersTask:
        return NumbersTask(dataset_name=task.dataset_name, data=[n * n for n in task.data])


class WriteSumStage(ProcessingStage[NumbersTask, NumbersTask]):
    name = "write_sum"
    resources = Resources(cpus=0.5)

    def __init__(self, output_dir: str) -> None:
        self.output_dir = output_dir

    def process(self, task: NumbersTask) -> NumbersTask:
        out = Path(self.output_dir) / f"{task.dataset_name}.json"
        out.write_text(json.dumps({"squares": task.data, "sum": sum(task.data)}))
        return task


def main(output_dir: str) -> None:
    tasks = [NumbersTask(dataset_name=f"part{i}", data=list(range(i, i + 4))) for i in range(3)]
    pipeline = Pipeline(name="two-stage-check").add_stage(SquareStage()).add_stage(WriteSumStage(output_dir))
    # Batch mode: streaming wants every stage's cpus to fit at once, which small CI hosts may not have.
    executor = XennaExecutor(config={"execution_mode": "batch", "cpu_allocation_percentage": 1.0})
    results = pipeline.run(executor, initial_tasks=tasks)
    print(f"pipeline finished: {len(results or [])} tasks")


if __name__ == "__main__":
    main(sys.argv[1])
