"""repair: the daily survey of the site bucket against its records, and the mending of
what differs (``pipeline.repair``). Its metric's alarm tells a person it had to."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from broadsheet.handlers.common import powertools, runtime
from broadsheet.pipeline.repair import repair

logger, metrics = powertools("repair")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    found = repair(runtime())
    metrics.add_metric(name="RepairDifferences", unit=MetricUnit.Count, value=found.differences)
    if found.differences:
        logger.warning("the site bucket differed from its records", extra=found.to_json())
    else:
        logger.info("the site bucket holds what its records say", extra={"records": found.records})
    return found.to_json()
