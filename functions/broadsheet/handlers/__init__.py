"""Lambda handlers: parse the event, call one stage of ``broadsheet.pipeline``, report
batch failures. Everything AWS-specific that the core must not know lives here."""
