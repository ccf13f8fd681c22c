"""Printers: one class per output language, one method per node type, over the same tree."""
