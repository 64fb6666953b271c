"""lighterweb.heap: a worker's startup objects frozen out of the garbage collector's walks."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_freezing_moves_every_live_object_out_of_the_collectors_generations():
    # In a process of its own, with Django and the apps set up as a worker has them: in the
    # test session other threads free frozen objects (the count drops) or promote new ones
    # between the freeze and the checks, which made this fail now and then (649400 == 649397).
    script = textwrap.dedent(
        """
        import gc, os
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
        import django
        django.setup()
        from lighterweb.heap import freeze_startup

        frozen, preloaded = freeze_startup()
        assert frozen == gc.get_freeze_count(), (frozen, gc.get_freeze_count())
        assert gc.get_objects(generation=2) == []  # the oldest generation was moved out whole
        print(preloaded, frozen)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    preloaded, frozen = map(int, done.stdout.split()[-2:])
    assert preloaded == 0
    assert frozen > 10_000  # Django, the apps and their modules at the least


def test_what_a_bot_would_import_later_is_imported_before_the_freeze():
    # In a process of its own: the modules must not be imported yet, and this test session has
    # imported them all. Nothing a module made at import may be left to the collector.
    script = textwrap.dedent(
        """
        import gc, sys
        from lighterweb.heap import freeze_startup

        assert "email.mime.multipart" not in sys.modules
        frozen, preloaded = freeze_startup(preload=("email.mime.multipart",))
        module = sys.modules["email.mime.multipart"]
        walked = gc.get_objects()
        assert not any(o is module.__dict__ for o in walked), "the module's namespace is walked"
        assert not any(o is module.MIMEMultipart for o in walked), "its class is walked"
        print(preloaded, frozen)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    preloaded, frozen = map(int, done.stdout.split())
    assert preloaded >= 3  # email.mime.multipart, email.mime.base, email.mime ...
    assert frozen > 0


def test_a_module_that_fails_to_import_is_logged_and_the_freeze_still_happens():
    script = textwrap.dedent(
        """
        import gc, logging, sys
        logging.basicConfig(level=logging.ERROR, stream=sys.stdout, format="%(message)s")
        from lighterweb.heap import freeze_startup

        frozen, preloaded = freeze_startup(preload=("no_such_module_here", "json.tool"))
        assert gc.get_objects(generation=2) == []
        print("frozen", frozen, preloaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "no_such_module_here not imported before the heap freeze" in done.stdout
    assert "ModuleNotFoundError" in done.stdout
    assert "frozen " in done.stdout and int(done.stdout.split()[-1]) >= 1  # json.tool came in
