#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torghut_site.settings")
    if sys.argv[1:2] == ["verify_evidence"]:
        os.environ["TORGHUT_NO_DATABASE"] = "1"  # verifies offline: never start or reach a database
    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except KeyboardInterrupt:  # Ctrl-C (make demo's steps, a command still starting): stop, without a traceback
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
