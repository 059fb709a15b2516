"""An mkdocs hook: links from a page to repository files outside ``docs/`` point at the repository.

``docs/results.md`` links to ``../examples/results.py`` so the link works when the page is read
in the repository; on the site that file does not exist, so the link is rewritten to the file in
``repo_url``. A link to a file missing from the repository stays as it is, and ``--strict`` fails
on it like on any other broken link.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

#: A Markdown inline link or image target: ``](target)`` or ``](target "title")``.
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?P<rest>[^)]*)\)")
#: The branch the site's links into the repository point at.
BRANCH = "main"


def on_page_markdown(
    markdown: str, *, page: Page, config: MkDocsConfig, files: Files, **kwargs: Any
) -> str:
    """Rewrite each relative link that leaves ``docs/`` and names an existing repository file."""
    docs_dir = Path(config.docs_dir).resolve()
    root = docs_dir.parent
    page_dir = (docs_dir / page.file.src_uri).parent
    repo_url = str(config.repo_url or "").rstrip("/")

    def rewrite(match: re.Match[str]) -> str:
        target = match["target"]
        if not repo_url or "://" in target or target.startswith(("/", "mailto:")):
            return match[0]
        resolved = (page_dir / target).resolve()
        if resolved.is_relative_to(docs_dir) or not resolved.is_relative_to(root):
            return match[0]
        if not resolved.exists():
            return match[0]
        kind = "tree" if resolved.is_dir() else "blob"
        path = PurePosixPath(resolved.relative_to(root).as_posix())
        return f"]({repo_url}/{kind}/{BRANCH}/{path}{match['rest']})"

    return LINK.sub(rewrite, markdown)
