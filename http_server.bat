@echo off
rem Serves the status page (it opens in the browser, signed in) and the HTTP API
rem (see docs/HTTP.md: curl -X POST http://127.0.0.1:PORT/trigger); Ctrl+C stops it.
rem Double-click it, or run it from a command prompt: http_server.bat --port 8765
rem Arguments are passed on to http_server.py; the exit code is http_server.py's.
setlocal
cd /d "%~dp0"

rem The py launcher (python.org installer) when it runs a Python 3, else
rem python on PATH. Each is tried once with an empty program: "where" is not
rem enough (the Microsoft Store "python" stub is found but does not run).
rem "if errorlevel" rather than "&&", which Wine's cmd gets wrong.
set "PYTHON="
py -3 -c "" >nul 2>nul
if not errorlevel 1 set "PYTHON=py -3"
if not defined PYTHON (
  python -c "" >nul 2>nul
  if not errorlevel 1 set "PYTHON=python"
)
if not defined PYTHON (
  echo Python 3 was not found. Install it from https://www.python.org/downloads/
  echo and tick "Add python.exe to PATH" in the installer, then start this again.
  set "RC=9009"
  goto :wait
)

rem --open: the one-time sign-in link it prints opens in the default browser.
%PYTHON% "%~dp0http_server.py" --open %*
set "RC=%ERRORLEVEL%"
if "%RC%"=="0" exit /b 0

:failed
echo.
echo http_server.py ended with exit code %RC%. The messages above and
echo scheduled_task_runner.log in this folder say why.

:wait
rem Keep the window open when it was opened by a double-click (its own
rem cmd /c line names this file). "if errorlevel" rather than "&&", which
rem Wine's cmd gets wrong, as in the other launchers.
echo %CMDCMDLINE% | find /i "%~nx0" >nul
if not errorlevel 1 pause
exit /b %RC%
