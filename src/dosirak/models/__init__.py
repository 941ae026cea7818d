"""The model registry (``dk.models``); the functions live in :mod:`dosirak.models.api`.

Re-exported here because ``dosirak.models`` is both this package and the ``dk.models``
attribute: whichever Python binds, ``dk.models.save(...)`` works.
"""

from dosirak.models.api import (
    alias,
    alias_history,
    current_step_lineage,
    delete,
    get,
    list,
    load,
    parse_tag,
    remove_alias,
    save,
    versions,
)

__all__ = ["alias", "alias_history", "current_step_lineage", "delete", "get", "list", "load", "parse_tag",
           "remove_alias", "save", "versions"]
