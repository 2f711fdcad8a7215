"""The firewall tests run real rules in a LAN of network namespaces."""

from tests.netns import lan  # noqa: F401  (a fixture, used by name)
