"""The Textual wizard: thin screens over the same domain calls the CLI makes."""
