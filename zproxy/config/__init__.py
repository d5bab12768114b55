"""Settings, below everything that runs: read once at start-up into one frozen tree.

Flow: ``cli`` -> ``load.load_settings`` (the one entry: the YAML file, then ``ZPROXY_*``
environment variables, then flags) -> ``parse`` (each section, every problem with where it came
from) using ``reader`` (typed field access) and ``routes`` (the Zuora route table) -> ``model``
(the frozen dataclasses, importing nothing of this package). ``app`` hands the tree to the rest.
"""
