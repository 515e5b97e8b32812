"""One module per ``bench`` subcommand: each has ``add_parser(subparsers)`` setting ``handler``."""
