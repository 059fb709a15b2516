"""A griffe extension for the docs build: a warning per public object without a docstring.

``mkdocs build --strict`` turns the warnings into a failed build, so the API reference cannot
silently show an undocumented name. Public means listed in a package's ``__all__`` (and, for a
class, its methods and properties whose names do not start with ``_``); attributes such as
pydantic fields may go without a docstring, and so may the conformance suite's ``test_*``
methods, whose names say what they check.
"""

from __future__ import annotations

from typing import Any

import griffe

#: Packages whose ``__all__`` the site documents.
CHECKED_PACKAGES = ("taskq_core", "taskq_memory", "taskq_redis")


class MissingDocstrings(griffe.Extension):
    """Warn about every public function, class, method or property without a docstring."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Check the public API of ``pkg`` once it is fully loaded."""
        if pkg.name not in CHECKED_PACKAGES:
            return
        modules = [pkg]
        if pkg.name == "taskq_core":
            modules.append(pkg["testing"])
        for module in modules:
            for name in module.exports or ():
                self._check(module[str(name)], public_members=module is pkg)

    def _check(self, obj: griffe.Object | griffe.Alias, *, public_members: bool) -> None:
        target = obj.final_target if isinstance(obj, griffe.Alias) else obj
        if target.kind is griffe.Kind.ATTRIBUTE:
            return
        if not target.docstring or not target.docstring.value.strip():
            griffe.logger.warning(f"{target.path}: public {target.kind.value} has no docstring")
        if not public_members or target.kind is not griffe.Kind.CLASS:
            return
        for member in target.members.values():
            if member.is_alias or member.name.startswith("_") or member.name.startswith("test_"):
                continue
            if member.kind is griffe.Kind.FUNCTION and not member.docstring:
                griffe.logger.warning(f"{member.path}: public method has no docstring")
