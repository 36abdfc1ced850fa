"""The commands of ``timetravel``: each parses its flags (``options.py``) and calls a library
function; ``cli.py`` registers them by name."""
