"""Pure text functions: normalisation and tokenisation (no I/O beyond packaged dictionaries)."""
