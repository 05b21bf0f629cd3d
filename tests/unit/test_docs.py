from pathlib import Path

from physar_ray.config import reference_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_config_reference_is_current():
    assert (DOCS / "config-reference.md").read_text() == reference_markdown(), \
        "regenerate with: physar config docs > docs/config-reference.md"
