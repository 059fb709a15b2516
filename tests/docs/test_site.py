"""The docs site's build hooks: repository links are rewritten, undocumented API is reported."""

from __future__ import annotations

import importlib.util
import logging
import sys
import textwrap
from pathlib import Path
from types import ModuleType, SimpleNamespace

import griffe

from taskq_core.terminal import REQUEUE_CHUNK

ROOT = Path(__file__).resolve().parents[2]


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"docs_hooks_{name}", ROOT / "docs_hooks" / f"{name}.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rewrite(markdown: str, page: str = "results.md") -> str:
    hook = load_hook("repo_links")
    config = SimpleNamespace(docs_dir=str(ROOT / "docs"), repo_url="https://example.org/taskq/")
    return hook.on_page_markdown(
        markdown, page=SimpleNamespace(file=SimpleNamespace(src_uri=page)), config=config, files=[]
    )


def test_links_to_repository_files_point_at_the_repository():
    text = rewrite("see [the example](../examples/results.py) and [bench](../bench/README.md).")
    assert "(https://example.org/taskq/blob/main/examples/results.py)" in text
    assert "(https://example.org/taskq/blob/main/bench/README.md)" in text


def test_links_inside_docs_and_to_missing_files_are_left_for_mkdocs_to_check():
    markdown = "[a](redis.md#keys) [b](../examples/no_such_file.py) [c](https://x.org/a.py)"
    assert rewrite(markdown) == markdown


def test_links_from_a_page_in_a_subfolder_resolve_from_that_folder():
    text = rewrite("[readme](../../README.md) [page](../redis.md)", page="api/redis.md")
    assert text == "[readme](https://example.org/taskq/blob/main/README.md) [page](../redis.md)"


def test_a_public_method_without_a_docstring_is_a_warning(tmp_path, caplog):
    # Given a package whose __all__ names a class with one undocumented public method
    package = tmp_path / "taskq_memory"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            '''
            """A package."""

            __all__ = ["Broker", "helper", "VALUE"]

            VALUE = 1


            def helper():
                pass


            class Broker:
                """Documented."""

                def documented(self):
                    """Yes."""

                def bare(self):
                    pass

                def _private(self):
                    pass
            '''
        )
    )
    extension = load_hook("missing_docstrings").MissingDocstrings()

    # When griffe loads it with the extension
    with caplog.at_level(logging.WARNING):
        griffe.load(
            "taskq_memory", search_paths=[tmp_path], extensions=griffe.load_extensions(extension)
        )

    # Then the undocumented function and method are reported, nothing else
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(warnings) == [
        "taskq_memory.Broker.bare: public method has no docstring",
        "taskq_memory.helper: public function has no docstring",
    ]


def test_retries_page_gives_the_requeue_progress_chunk():
    text = " ".join((ROOT / "docs" / "retries.md").read_text().split())
    assert f"more than {REQUEUE_CHUNK:,} messages shows a progress bar" in text
    assert f"{REQUEUE_CHUNK:,} ids per call" in text
