"""pytest imports test modules by basename (rootdir-relative `prepend` import mode, no packages): two test
files with the same name in tests/unit and tests/integration stop the whole run at collection."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique():
    names = Counter(path.name for path in TESTS.glob("*/test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
