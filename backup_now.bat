@echo off
rem Backs up the default task(s) of config.json now.
rem Double-click it, or run it from a command prompt: backup_now.bat "MD1" --all
rem Arguments are passed on to backup_now.py; the exit code is backup_now.py's.
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

%PYTHON% "%~dp0backup_now.py" %*
set "RC=%ERRORLEVEL%"
if "%RC%"=="0" goto :done

:failed
echo.
echo backup_now.py ended with exit code %RC%. The messages above and
echo scheduled_task_runner.log in this folder say why.

:done
:wait
rem Opened by a double-click (its own cmd /c line names this file): keep
rem the window open, also after a success, so the result can be read. Run
rem from a console or another script, it does not wait.
echo %CMDCMDLINE% | find /i "%~nx0" >nul
if not errorlevel 1 pause
exit /b %RC%
