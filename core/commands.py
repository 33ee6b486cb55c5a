"""The base of every management command of the project: ``--help`` prints the command's ``help`` with
its own line breaks (an "Example:" block stays one command per line), Django's options last.

    from core.commands import BaseCommand

    class Command(BaseCommand):
        help = '''What it does, in a sentence or two.

    Example:
      manage.py my_command --flag value'''

``tests/core/test_command_help.py`` checks every command of the project's apps for a description and
an example, and that the help prints line by line as written.
"""
from __future__ import annotations

from argparse import RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand as DjangoBaseCommand
from django.core.management.base import DjangoHelpFormatter


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's option order, with the description's (and epilog's) line breaks kept."""


class BaseCommand(DjangoBaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)
