"""Twill's OpenAPI document and the overlay, compiled to plain tool data; no I/O."""
