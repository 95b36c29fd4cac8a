"""AWS::Lambda::Url, which moto's CloudFormation skips: created with CreateFunctionUrlConfig, so `aws lambda
get-function-url-config` finds it and the local cloud can serve it (`localcloud.lambda_.function_urls`).

moto's CreateFunctionUrlConfig takes no Qualifier; the alias a URL names is noted on moto's record and
checked as AWS checks it: a function URL is for an alias or `$LATEST`, never a published version
(https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunctionUrlConfig.html, "Qualifier"). Like
CloudFormation, `FunctionUrl` ends in `/`. Refused here as by CloudFormation: an AuthType other than
AWS_IAM or NONE, an InvokeMode other than BUFFERED or RESPONSE_STREAM.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaVersion
from moto.core.common_models import CloudFormationModel

from localcloud.cloudformation.registration import LocalResource, client, plain

AUTH_TYPES = ("AWS_IAM", "NONE")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")


class LambdaUrl(LocalResource, CloudFormationModel):
    resource_type = "AWS::Lambda::Url"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        target = str(props.get("TargetFunctionArn") or "")
        auth_type = str(props.get("AuthType") or "")
        invoke_mode = str(props.get("InvokeMode") or "BUFFERED")
        qualifier = props.get("Qualifier")
        parts = target.split(":")
        if len(parts) == 8 and qualifier is None:  # an alias's ARN
            target, qualifier = ":".join(parts[:7]), parts[7]
        problems = [
            problem
            for problem, broken in (
                (f"AuthType {auth_type!r} must be one of {', '.join(AUTH_TYPES)}", auth_type not in AUTH_TYPES),
                (
                    f"InvokeMode {invoke_mode!r} must be one of {', '.join(INVOKE_MODES)}",
                    invoke_mode not in INVOKE_MODES,
                ),
                (
                    f"Qualifier {qualifier!r} must be an alias name or $LATEST, not a version",
                    qualifier is not None and str(qualifier).isdigit(),
                ),
            )
            if broken
        ]
        if problems:
            raise ValueError(f"{name}: invalid function URL: " + "; ".join(problems))
        lambda_client = client("lambda", region)
        request: dict[str, Any] = {"FunctionName": target, "AuthType": auth_type, "InvokeMode": invoke_mode}
        if props.get("Cors"):
            request["Cors"] = props["Cors"]
        config = lambda_client.create_function_url_config(**request)
        if qualifier and qualifier != "$LATEST":
            lambda_client.get_alias(FunctionName=_function_name(target), Name=str(qualifier))  # unknown: refused
            _note_qualifier(config["FunctionArn"], str(qualifier))
        url = str(config["FunctionUrl"]).rstrip("/") + "/"
        arn = str(config["FunctionArn"]) + (f":{qualifier}" if qualifier else "")
        return cls(
            url,
            {"FunctionUrl": url, "FunctionArn": arn},
            delete=lambda: lambda_client.delete_function_url_config(FunctionName=target),
        )


def _function_name(function: str) -> str:
    """A function's name from its name or ARN: moto's GetAlias and CreateAlias read an ARN as a name."""
    return function.split(":")[6] if function.startswith("arn:") else function


class LambdaAlias(LocalResource, CloudFormationModel):
    """AWS::Lambda::Alias, which moto's CloudFormation skips: created with CreateAlias, so the `live` alias
    (provisioned concurrency or SnapStart) exists for the function URL and API integrations naming it.
    Ref is the alias's ARN, as CloudFormation's (https://docs.aws.amazon.com/AWSCloudFormation/latest/
    UserGuide/aws-resource-lambda-alias.html, "Return values"). Provisioned concurrency is not kept
    warm here: the local runtime starts environments on demand either way."""

    resource_type = "AWS::Lambda::Alias"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        function_name = _function_name(str(plain(props.get("FunctionName")) or ""))
        lambda_client = client("lambda", region)
        request: dict[str, Any] = {
            "FunctionName": function_name,
            "Name": str(props.get("Name") or ""),
            "FunctionVersion": str(plain(props.get("FunctionVersion")) or ""),
        }
        if props.get("Description"):
            request["Description"] = str(props["Description"])
        alias = lambda_client.create_alias(**request)
        return cls(
            str(alias["AliasArn"]),
            {"AliasArn": alias["AliasArn"]},
            delete=lambda: lambda_client.delete_alias(FunctionName=function_name, Name=request["Name"]),
        )


def _version_attribute(self: LambdaVersion, attribute_name: str) -> Any:
    """`Fn::GetAtt [Version, Version]`, which moto's version model lacks: the version number published
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-version.html)."""
    if attribute_name == "Version":
        return self.version
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    raise UnformattedGetAttTemplateException()


def install() -> None:
    """What an alias needs of the version it names (AWS::Lambda::Version is moto's own model)."""
    LambdaVersion.get_cfn_attribute = _version_attribute  # type: ignore[attr-defined]
    LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr == "Version")  # type: ignore[attr-defined]


def _note_qualifier(function_arn: str, qualifier: str) -> None:
    """The alias a URL invokes, on moto's record of the URL (whose API has no place for it)."""
    from moto.awslambda.utils import get_backend

    _, _, _, region, account, _, function_name = function_arn.split(":")[:7]
    function = get_backend(account, region).get_function(function_name)
    function.url_config.config["Qualifier"] = qualifier
