"""Table models, one file per table. Importing this package registers every table on `Base.metadata`."""

from billing.db.models.base import Base
from billing.db.models.manual_override import ManualOverride
from billing.db.models.reference import ReferenceLink, ReferenceObject

__all__ = ["Base", "ManualOverride", "ReferenceLink", "ReferenceObject"]
