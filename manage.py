#!/usr/bin/env python
"""Django's command-line utility for LighterWeb.

`python manage.py --env-file /etc/lighterweb.env COMMAND` reads that env file (the same as
`ENV_FILE=...`); without it the checkout's `.env` is read when present (lighterweb.envfile).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    from django.core.management import execute_from_command_line

    from lighterweb.envfile import argv_env_file

    execute_from_command_line(argv_env_file(sys.argv))


if __name__ == "__main__":
    main()
