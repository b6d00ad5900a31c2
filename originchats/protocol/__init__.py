"""The wire format: JSON text frames in and out (codec.py). Imports the core, never the shell."""
