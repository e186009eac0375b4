"""Knowledge center: FAQ entries and the in-memory matching engine."""
