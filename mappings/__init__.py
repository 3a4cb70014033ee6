"""CRM records <-> rule records: field names and types, derived fields, related records."""
from .inbound import domain_of
from .loader import default_dir, load, load_file
from .matching import AccountMatcher
from .model import FieldSpec, Mapping, MatchSpec, OutputSpec, Related

__all__ = ["AccountMatcher", "FieldSpec", "Mapping", "MatchSpec", "OutputSpec", "Related",
           "default_dir", "domain_of", "load", "load_file"]
