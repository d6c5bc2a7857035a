"""The SAM template as code: its CloudFront Function inlined, its functions packaged, and
the whole transformed offline with aws-sam-translator, as ``sam build`` would."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parents[3] / "infra"
TEMPLATE = INFRA / "template.yaml"
PLACEHOLDER = '"{{viewer-request.js}}"'
RELEASE = '"{{release}}"'  # the code's digest: the stack says which release it runs


def template_text(path: Path = TEMPLATE) -> str:
    """The template with the viewer-request function's source put in place.

    CloudFormation takes a CloudFront Function's code inline only; the source stays a
    file of its own (so Node can test it) and is inlined here, for deploys and tests alike.
    """
    from broadsheet.pipeline.release import release

    text = path.read_text()
    code = (path.parent / "viewer-request.js").read_text()
    return text.replace(PLACEHOLDER, json.dumps(code)).replace(RELEASE, json.dumps(release()))


def parse(text: str) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    parsed: dict[str, Any] = yaml_parse(text)
    return parsed


def code_zip(source: Path) -> bytes:
    """The package's Python sources: moto keeps the code, the local runner runs this tree."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(source.parent))
    return buffer.getvalue()


def transform(
    template: dict[str, Any], parameters: dict[str, str], code_uri: str, iam: Any
) -> dict[str, Any]:
    """SAM to plain CloudFormation, every function's code at ``code_uri`` (s3://…)."""
    import logging

    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform as sam_transform

    # The translator warns of its own feature toggles and unpublished metrics: not ours.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    template = json.loads(json.dumps(template))
    template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = code_uri
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"].pop("CodeUri", None)
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = code_uri
    transformed: dict[str, Any] = sam_transform(template, parameters, ManagedPolicyLoader(iam))
    return transformed
