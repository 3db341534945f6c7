"""One error type for everything the user can fix: the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """Bad input (spec, file, model id): the message names the field or file and what to do."""

    exit_code = 2
