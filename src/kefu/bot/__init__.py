"""The answering bot (智能应答机器人): a reacting domain on top of ``inbox`` and ``kb``."""
