"""Broadsheet: publish a multilingual periodical from git.

The core (everything in this package outside ``adapters`` and ``handlers``) imports no
AWS SDK: it reads sources, checks them, and renders pages and indexes as bytes.
"""

__version__ = "0.1.0"
