"""The content model and its checks: site.yml, issue.yml and articles read from bytes,
every problem reported as a finding an editor can act on (file, line, field).

Nothing here renders pages or knows about storage: it is what ``broadsheet validate``
runs, and what every other layer builds on.
"""
