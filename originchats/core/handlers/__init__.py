"""Command handlers, one module per family. Importing a module registers nothing: core/dispatch.py
lists the modules and builds the command tables from them (core/registry.py)."""
