"""Broadsheet: publish a multilingual periodical from git.

The layers, lowest first: ``content`` (the model and its checks), ``edition`` (what
readers get, rendered from the issue indexes), ``adapters`` (AWS behind small
interfaces, with in-memory fakes), ``pipeline`` and ``build`` (the cloud stages and the
local build), ``handlers`` (Lambda), ``local`` (the stack on this machine), ``cli``.
``content`` and ``edition`` import no AWS SDK; import-linter holds every layer to it.
"""

__version__ = "0.1.0"
