"""Reviewer assignment from CODEOWNERS and path rules."""
