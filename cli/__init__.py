"""The ``eventsim`` command line: thin click wrappers around the library's public functions."""
