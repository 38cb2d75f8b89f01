"""Postings: their schema, text recipe, lifecycle writes and the rules for listed and embedded."""
