"""The web UI's tests need Gradio, which comes with the `ui` extra; without it they are skipped, not failed."""

import pytest

pytest.importorskip("gradio", reason="the web UI's tests need the ui extra: pip install -e '.[ui]'")
