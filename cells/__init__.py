"""Cell datasheets as lab data: one YAML file per cell type, schema-checked, every number with its
source (datasheet title, revision, page) or marked "class member, not a product".

Pure data: this package imports nothing of ``bench``, ``drivers``, ``protocols`` or
``sim_instruments`` (an import-linter contract). The shipped datasheets live in
``cells/datasheets/``; a lab adds its own in a directory named by the bench TOML (``cells_dir``) or
the ``CELLBENCH_CELLS`` environment variable (see :mod:`cells.library`).
"""

from cells.datasheet import CLASS_MEMBER, Datasheet, Number
from cells.library import CellLibrary, CellNotFound, shipped_datasheet
from cells.schema import DatasheetError, load_datasheet, parse_datasheet

__all__ = ["CLASS_MEMBER", "CellLibrary", "CellNotFound", "Datasheet", "DatasheetError", "Number",
           "load_datasheet", "parse_datasheet", "shipped_datasheet"]
