@echo off
rem Gets files back from a backup: a short guided dialogue (which backup,
rem which snapshot, what, where to). Double-click it. Each question but the
rem last has a default (Enter); the last needs y or n. Ctrl+C at a question
rem changes nothing.
rem Arguments are passed on to backup_now.py restore --interactive; the
rem exit code is backup_now.py's. For scripts: backup_now.bat restore ... --to DIR
setlocal
cd /d "%~dp0"

rem The py launcher (python.org installer) when it runs a Python 3, else
rem python on PATH (as in backup_now.bat).
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
  goto :done
)

%PYTHON% "%~dp0backup_now.py" restore --interactive %*
set "RC=%ERRORLEVEL%"
if not "%RC%"=="0" (
  echo.
  echo The restore ended with exit code %RC%. The messages above and
  echo scheduled_task_runner.log in this folder say why.
)

:done
rem Keep the window open when it was opened by a double-click, to read the result.
echo %CMDCMDLINE% | find /i "%~nx0" >nul
if not errorlevel 1 pause
exit /b %RC%
