"""Load generator for `scripts/bench`: starts the real server, drives it over the wire, measures.

Not part of the server package (nothing under originchats/ imports it). See docs/performance.md.
"""
