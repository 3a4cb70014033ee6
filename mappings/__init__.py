"""CRM records <-> rule records: field names and types, derived fields, related records.

Imports only `rules` (never `connector` or `cli`) and no HTTP library. See docs/mappings.md.
"""
from .inbound import domain_of
from .loader import default_dir, find, load, load_file, parse_text
from .matching import FREE_MAIL, AccountMatch, AccountMatcher
from .model import FieldSpec, Mapping, MatchSpec, OutputSpec, Related

__all__ = ["AccountMatch", "AccountMatcher", "FREE_MAIL", "FieldSpec", "Mapping", "MatchSpec",
           "OutputSpec", "Related", "default_dir", "domain_of", "find", "load", "load_file",
           "parse_text"]
