"""The plugin core: the hookspecs, the manager and the calls into plugins."""
