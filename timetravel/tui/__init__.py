"""The screen (the only Textual code): the app, its keys, loads and widgets. It reads
through ``timetravel.query`` alone."""
