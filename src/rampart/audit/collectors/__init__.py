"""Collectors: each module's ``COLLECTORS`` maps a fact's name to the function that gathers it."""
