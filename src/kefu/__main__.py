"""``python -m kefu`` runs the command line."""

from kefu.cli.main import app

app()
