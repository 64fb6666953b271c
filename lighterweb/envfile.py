"""Which env file configures this process: ENV_FILE, else the checkout's `.env`, else none.

One module decides it, and lighterweb.settings calls it first, so every entry point (manage.py,
daphne through lighterweb.asgi, celery through lighterweb.celery, the tests) reads the same file
the same way. The rules exist because a missing file used to be silent: the process booted with
DEBUG on, SQLite and the development keys beside a production database.

- `ENV_FILE=/etc/lighterweb.env` (or `manage.py --env-file PATH`): that file is read; if it is
  missing or unreadable the boot stops naming it. A named file is a deployment's, so it also
  means production mode (below).
- Otherwise `BASE_DIR/.env` when it exists (scripts/start.sh writes one; on a server it is a
  symlink to /etc/lighterweb.env, deploy/README.md). A dangling symlink is an error, not "none".
- Otherwise nothing: the real environment alone (systemd's EnvironmentFile=, CI, tests).

Production mode (`LIGHTERWEB_MODE=production`, or a named ENV_FILE) turns DEBUG's default off and
refuses to boot when DEBUG is unset and no env file was read: the environment is missing, and
development settings would be the wrong answer. Variables already in the environment always win
over the file's.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

ENV_FILE_VARIABLE = "ENV_FILE"
MODE_VARIABLE = "LIGHTERWEB_MODE"
MODES = ("development", "production")
ENV_FILE_OPTION = "--env-file"


def env_file_path(base_dir: Path) -> Path | None:
    """The env file this process should read (None: none), without reading it."""
    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if named:
        return Path(named).expanduser().absolute()
    default = base_dir / ".env"
    if default.is_symlink() or default.exists():
        return default
    return None


def env_file_load(base_dir: Path) -> Path | None:
    """Read the env file into os.environ (existing variables win); the path read, or None.

    Raises ImproperlyConfigured naming the file when it is named but missing, or unreadable.
    """
    path = env_file_path(base_dir)
    if path is None:
        return None
    named = bool(os.environ.get(ENV_FILE_VARIABLE, "").strip())
    origin = f"{ENV_FILE_VARIABLE}={path}" if named else f"the env file {path}"
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"{origin} does not exist (a dangling symlink or a misspelt path?); "
            "create it (deploy/README.md) or point ENV_FILE at the right one"
        ) from None
    except PermissionError:
        raise ImproperlyConfigured(
            f"{origin} is not readable by this user: run as the service user that owns it "
            "(e.g. sudo -u lighterweb ...)"
        ) from None
    except IsADirectoryError:
        raise ImproperlyConfigured(f"{origin} is a directory, not an env file") from None
    environ.Env.read_env(io.StringIO(content), overwrite=False)
    return path


def production_mode() -> bool:
    """True when LIGHTERWEB_MODE=production or an env file is named by ENV_FILE."""
    mode = os.environ.get(MODE_VARIABLE, "").strip().lower()
    if mode and mode not in MODES:
        raise ImproperlyConfigured(
            f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, not {mode!r}"
        )
    return mode == "production" or bool(os.environ.get(ENV_FILE_VARIABLE, "").strip())


def debug_default(loaded: Path | None) -> bool:
    """DEBUG's value when the variable is unset; refuses a production boot with nothing read."""
    if not production_mode():
        return True
    if loaded is None:
        raise ImproperlyConfigured(
            f"{MODE_VARIABLE}=production but DEBUG is unset and no env file was read: set "
            f"{ENV_FILE_VARIABLE}=/etc/lighterweb.env (or the unit's EnvironmentFile=); "
            "refusing to fall back to development settings"
        )
    return False


def argv_env_file(argv: list[str]) -> list[str]:
    """`argv` without a leading `--env-file PATH` / `--env-file=PATH`, which becomes ENV_FILE.

    manage.py calls it before Django parses the command line, so the option works with every
    management command: `manage.py --env-file /etc/lighterweb.env migrate`. Only options before
    the command name count, so a command's own arguments are never touched.
    """
    program, rest = argv[:1], argv[1:]
    while rest and rest[0].startswith(ENV_FILE_OPTION):
        option = rest.pop(0)
        if option == ENV_FILE_OPTION:
            if not rest:
                raise SystemExit(f"{ENV_FILE_OPTION} needs a path")
            value = rest.pop(0)
        elif option.startswith(ENV_FILE_OPTION + "="):
            value = option.split("=", 1)[1]
        else:
            raise SystemExit(f"unknown option {option!r} (did you mean {ENV_FILE_OPTION}?)")
        os.environ[ENV_FILE_VARIABLE] = value
    return program + rest
