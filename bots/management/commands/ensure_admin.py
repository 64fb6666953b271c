"""Create the first admin user if there is none (run by scripts/start.sh on every start).

Password: ADMIN_PASSWORD when set; otherwise asked on a terminal; otherwise generated and shown
once. A second run finds the superuser and does nothing.
"""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

GENERATED_PASSWORD_BYTES = 12
MAX_PROMPTS = 3


class Command(BaseCommand):
    help = "Create the admin user on first run (ADMIN_USERNAME, ADMIN_PASSWORD)."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD", "")
        generated = False
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(f"ADMIN_PASSWORD is too weak: {' '.join(exc.messages)}") from exc
        if not password and sys.stdin.isatty():
            password = self._prompt(username)
        if not password:
            password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
            generated = True
        user_model.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created the admin user '{username}'."))
        if generated:
            # Shown exactly once, on the operator's own terminal; it is never logged.
            self.stdout.write(
                self.style.WARNING(f"Its generated password is: {password}  (write it down)")
            )

    def _prompt(self, username: str) -> str:
        for _ in range(MAX_PROMPTS):
            first = getpass.getpass(f"Password for the new admin user '{username}': ")
            if first != getpass.getpass("Again: "):
                self.stderr.write("The two passwords differ.")
                continue
            try:
                validate_password(first)
            except ValidationError as exc:
                self.stderr.write(" ".join(exc.messages))
                continue
            return first
        raise CommandError("no acceptable password given")
