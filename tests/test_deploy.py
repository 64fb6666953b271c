"""The deploy files hold what a server needs (issue 17): a Procfile honcho runs as is, units that
read their secrets from the env file only and stop cleanly, and the two saying the same thing.

scripts/deploy-check.sh runs all of it for real; these tests catch the regressions it would
take minutes to find: a one-shot line among the long-running processes (honcho stops
everything when it exits), a secret written into a world-readable unit, a unit without the env
file, a unit whose command drifted from its Procfile line.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
ENV_FILE = "/etc/lighterweb.env"
VENV_PYTHON = "/srv/lighterweb/.venv/bin/python"
# honcho's own Procfile grammar (honcho.environ.PROCFILE_LINE).
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
# What may run under a Procfile or a long-running unit: servers that never exit by themselves.
LONG_RUNNING = {
    "daphne", "celery worker", "celery beat", "manage.py lighter_sim", "manage.py telegram_poll",
}  # fmt: skip
# Variables a unit may set inline: none of them is a secret (those live in the env file).
INLINE_ALLOWED = {
    "LIGHTERWEB_MODE",
    "LOG_LEVEL",
    "PYTHONUNBUFFERED",
    "WEB_PORT",
    "BIND",
    "BOT_WORKER_CONCURRENCY",
    "BOT_WORKER_NAME",
    "DEFAULT_WORKER_CONCURRENCY",
    "SIM_PORT",
    "GOMAXPROCS",
}
SECRET_HINT = re.compile(r"SECRET|KEY|PASSWORD|TOKEN|DATABASE_URL|://[^/\s]*:[^@\s]*@", re.I)


def procfile(name: str) -> dict[str, str]:
    """The processes of a Procfile, as honcho reads them."""
    text = (ROOT / name).read_text()
    matches = (PROCFILE_LINE.match(line) for line in text.splitlines())
    return {m.group(1): m.group(2) for m in matches if m}


def program(command: str) -> str:
    """What a command runs ("daphne", "celery worker", ...), or what it is if not a server."""
    if re.search(r"&&|\|\||;|\|", command):
        return f"a chain of commands: {command}"
    words = shlex.split(command)
    while words and (words[0] == "exec" or re.match(r"^[A-Z_]+=", words[0])):
        words.pop(0)
    if not words or not words[0].endswith("/python"):
        return f"not the venv's python: {command}"
    args = words[1:]
    if args[:1] == ["-m"] and args[1:2] == ["daphne"]:
        return "daphne"
    if args[:1] == ["-m"] and args[1:2] == ["celery"]:
        verb = next((a for a in args[2:] if a in {"worker", "beat"}), "?")
        return f"celery {verb}"
    if args and args[0].endswith("manage.py"):
        return f"manage.py {args[1] if len(args) > 1 else ''}".strip()
    return " ".join(args[:2])


def unit(name: str) -> dict[str, list[str]]:
    """A unit file's settings: key -> every value it is given (comments skipped)."""
    settings: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_problems(text: str) -> list[str]:
    """Why a service unit's text must not ship: no env file, or a secret written inline."""
    problems = []
    if f"EnvironmentFile={ENV_FILE}" not in text.splitlines():
        problems.append(f"no EnvironmentFile={ENV_FILE}")
    for line in text.splitlines():
        if line.startswith("Environment="):
            for assignment in shlex.split(line.split("=", 1)[1]):
                name = assignment.split("=", 1)[0]
                if name not in INLINE_ALLOWED or SECRET_HINT.search(assignment):
                    problems.append(f"inline variable {name}")
        elif not line.startswith("#") and SECRET_HINT.search(line.split("=", 1)[-1]):
            problems.append(f"a secret-looking value: {line}")
    return problems


SERVICES = sorted(path.name for path in UNITS.glob("*.service"))
LONG_RUNNING_UNITS = [name for name in SERVICES if name != "lighterweb-release.service"]


# -- Procfile -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Procfile", "Procfile.paper"])
def test_procfile_holds_only_long_running_processes(name):
    processes = procfile(name)

    assert processes, f"{name} has no process"
    assert {n: program(c) for n, c in processes.items() if program(c) not in LONG_RUNNING} == {}


def test_the_old_release_line_counts_as_a_one_shot():
    old = "python manage.py migrate --noinput && python manage.py collectstatic --noinput"

    assert program(old) not in LONG_RUNNING
    assert program(".venv/bin/python manage.py migrate --noinput") not in LONG_RUNNING


def test_web_listens_on_web_port_not_honchos_per_line_port():
    web = procfile("Procfile")["web"]

    assert "-p ${WEB_PORT:-8000}" in web
    assert not re.search(r"\$\{?PORT\b", web)


def test_procfile_commands_use_the_venv_by_path_and_log_at_info():
    for name, command in procfile("Procfile.paper").items():
        command = command.removeprefix("GOMAXPROCS=${GOMAXPROCS:-1} ")
        assert command.startswith("exec ${LIGHTERWEB_VENV:-.venv}/bin/python "), name
        if "celery" in command:
            assert "--loglevel ${LOG_LEVEL:-INFO}" in command, name


def test_beat_schedule_lives_in_the_checkouts_var_directory():
    from django.conf import settings

    assert "-s var/celerybeat-schedule" in procfile("Procfile")["beat"]
    assert (
        "-s /srv/lighterweb/var/celerybeat-schedule"
        in unit("lighterweb-beat.service")["ExecStart"][0]
    )
    assert Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).parent == ROOT / "var"


def test_paper_procfile_is_the_procfile_plus_the_simulator():
    paper = procfile("Procfile.paper")

    assert program(paper.pop("sim")) == "manage.py lighter_sim"
    assert paper == procfile("Procfile")


# -- systemd units ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_unit_reads_the_env_file_and_carries_no_secret(name):
    assert unit_problems((UNITS / name).read_text()) == []


def test_a_unit_with_an_inline_secret_or_without_the_env_file_is_refused():
    good = (UNITS / "lighterweb-web.service").read_text()

    assert unit_problems(good.replace(f"EnvironmentFile={ENV_FILE}\n", "")) != []
    assert unit_problems(good + "Environment=SECRET_KEY=abc\n") != []
    assert unit_problems(good + "Environment=DATABASE_URL=postgres://u:pw@h/db\n") != []


@pytest.mark.parametrize("name", LONG_RUNNING_UNITS)
def test_long_running_unit_runs_from_the_venv_and_stops_cleanly(name):
    settings = unit(name)

    assert settings["ExecStart"][0].startswith(VENV_PYTHON + " ")
    assert program(settings["ExecStart"][0]) in LONG_RUNNING
    assert settings["KillMode"] == ["mixed"]
    assert int(settings["TimeoutStopSec"][0]) >= 15
    assert settings["Restart"] == ["on-failure"]
    assert settings["User"] == ["lighterweb"]
    assert settings["PartOf"] == ["lighterweb.target"]
    for dependency in ("postgresql.service", "redis-server.service"):
        assert dependency in settings["Wants"][0].split(), dependency
        assert dependency in settings["After"][0].split(), dependency


def test_release_unit_is_a_one_shot_that_never_restarts():
    settings = unit("lighterweb-release.service")

    assert settings["Type"] == ["oneshot"]
    assert "Restart" not in settings
    assert settings["ExecStart"] == ["/srv/lighterweb/scripts/release.sh"]
    for name in LONG_RUNNING_UNITS:
        assert "lighterweb-release.service" in unit(name)["After"][0].split(), name


def test_no_unit_uses_the_home_directory_specifier():
    # %h is systemd's home directory, not a host name; Celery node names use %H.
    for path in UNITS.iterdir():
        assert not re.search(r"(?<!%)%h", path.read_text()), path.name


def test_the_target_groups_every_process_but_the_optional_simulator():
    wanted = set(unit("lighterweb.target")["Wants"][0].split())

    assert wanted == set(SERVICES) - {"lighterweb-sim.service"}


@pytest.mark.parametrize("process", ["web", "worker", "worker_default", "beat", "telegram", "sim"])
def test_unit_runs_the_same_command_as_its_procfile_line(process):
    command = procfile("Procfile.paper")[process]
    # A variable the line sets for its process, with its default: the unit sets that default.
    assignments = re.findall(r"^(\w+)=\$\{\1:-([^}]*)\} ", command)
    command = re.sub(r"^(\w+=\$\{\w+:-[^}]*\} )+", "", command).removeprefix("exec ")
    command = command.replace("${LIGHTERWEB_VENV:-.venv}", "/srv/lighterweb/.venv")
    command = re.sub(r"\$\{(\w+):-[^}]*\}", r"${\1}", command)
    command = command.replace(" manage.py ", " /srv/lighterweb/manage.py ")
    command = command.replace("${PAPER_SIM_CONFIG}", "var/sim-config.json")
    command = command.replace(" var/", " /srv/lighterweb/var/").replace("@%h", "@%H")

    settings = unit(f"lighterweb-{process.replace('_', '-')}.service")
    environment = [a for line in settings["Environment"] for a in shlex.split(line)]

    assert settings["ExecStart"] == [command]
    for name, default in assignments:
        assert f"{name}={default}" in environment


@pytest.mark.parametrize("process", ["web", "worker", "worker_default", "telegram"])
def test_the_processes_that_sign_start_with_the_go_signer_on_one_processor(process):
    # Go reads GOMAXPROCS once, from the environment its process started with: the launcher
    # must set it (exchange/signer.py).
    assert procfile("Procfile")[process].startswith("GOMAXPROCS=${GOMAXPROCS:-1} exec ")
    settings = unit(f"lighterweb-{process.replace('_', '-')}.service")
    assert "GOMAXPROCS=1" in settings["Environment"]


# -- the deploy README and its check ------------------------------------------------------------


def test_every_block_the_deploy_check_runs_is_marked_in_the_deploy_readme():
    script = (ROOT / "scripts" / "deploy-check.sh").read_text()
    readme = (ROOT / "deploy" / "README.md").read_text()
    used = set(re.findall(r"run_block (\w+)", script)) | {"names", "venv", "caddy", "nginx"}

    assert {name for name in used if f"<!-- deploy-check: {name} -->" not in readme} == set()
