"""render: typeset the bodies of the articles a commit brings, once per typesetter."""

from __future__ import annotations

from broadsheet.handlers.common import powertools, sqs_handler

logger, metrics = powertools("render")
handler = sqs_handler("render", logger, metrics)
