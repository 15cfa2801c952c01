"""A fresh clone is all anyone has: the tests read data only from inside the checkout."""

import re
from pathlib import Path

from tests import shared_data

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# Ways a test could reach data beside the checkout: the team's data folder next to it, the
# variable that pointed at it, or a path climbing out of the repository to that folder. The
# folder's name is composed here so that this guard does not itself spell a path out.
FOLDER = "shared"
ENV = f"MARGIN_{FOLDER.upper()}_DATA"
OUTSIDE = re.compile(
    "|".join(
        (
            re.escape(f"../{FOLDER}"),
            ENV,
            re.escape(f"/work/{FOLDER}"),
            rf'parents\[\d\]\s*/\s*"{FOLDER}"',
        )
    )
)


def test_no_test_names_a_data_folder_outside_the_checkout():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "tests read data from outside the checkout:\n" + "\n".join(offenders)


def test_the_real_data_files_are_in_the_checkout_with_their_licence():
    data = [value for value in vars(shared_data).values() if isinstance(value, Path)]
    assert data
    for path in data:
        assert path.resolve().is_relative_to(ROOT), path
        assert path.exists(), f"{path} is missing from the checkout"
    for folder in {p.parent for p in data if p.is_file()}:
        assert (folder / "LICENSE").is_file(), f"{folder} has no LICENSE"
    readme = (TESTS / "data" / "README.md").read_text(encoding="utf-8")
    for path in data:
        if path.is_file():
            assert path.name in readme, f"tests/data/README.md does not say where {path} is from"


def test_the_pattern_finds_what_it_looks_for():
    for line in (
        f'Path("../{FOLDER}/data")',
        f'os.environ["{ENV}"]',
        f'Path(__file__).parents[2] / "{FOLDER}" / "data"',
        f'Path("/work/{FOLDER}/data")',
    ):
        assert OUTSIDE.search(line), line
