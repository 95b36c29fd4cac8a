"""The logical ids of every resource that holds data, or an identity clients hold, are pinned.

CloudFormation identifies a resource by its logical id. A resource whose logical id is new to the
stack is created, and the one whose id disappeared is deleted: a replacement, not an update
("Update behaviors of stack resources", AWS CloudFormation User Guide,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html;
the CDK guide says the same of CDK's ids: "changing the logical ID of a resource results in the
resource being replaced with a new one at the next deployment",
https://docs.aws.amazon.com/cdk/v2/guide/identifiers.html#identifiers-logical-ids). CDK derives
logical ids from the construct path, so renaming or re-nesting a construct in `infra/` replaces
everything beneath it on a user's next `cdk deploy`: a retained bucket or table is orphaned and
an empty one takes its place, a deleted log group takes its logs with it, a new topic loses its
subscriptions, a new API key or REST API breaks every client.

So the ids below are written out, not computed. A refactoring that changes one fails here; keep the
construct path (scope ids and nesting) instead. A new stateful resource is added to the list on
purpose, with the id it will keep.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra import template_queries as tq

PINNED: dict[str, frozenset[str]] = {
    # Data: retained on stack deletion by default (retain_data_on_delete).
    "AWS::S3::Bucket": frozenset(
        {
            "DataAccessLogsC0C25EE4",
            "DataArtifacts5613094C",
            "DataCurated6D569417",
            "DataQuarantineE270BB5B",
            "DataRawAF6CB863",
        }
    ),
    "AWS::DynamoDB::Table": frozenset({"RegistryTableDB777839", "PredictionKeysTableD182B4FA"}),
    # Encrypts the retained table: a new key could not read it.
    "AWS::KMS::Key": frozenset({"EncryptionKey3A692D6E"}),
    # People subscribe to the topic; the queue holds failed events waiting to be replayed.
    "AWS::SNS::Topic": frozenset({"MonitoringAlertsA1241EEA"}),
    "AWS::SQS::Queue": frozenset({"MonitoringDeadLettersD99D287D"}),
    # Every function's logs, the API's access logs and the training runs' execution logs.
    "AWS::Logs::LogGroup": frozenset(
        {
            "BatchScoringPartsCountFunctionLogsEEB76DD0",
            "BatchScoringPartsFinishFunctionLogs94939F57",
            "BatchScoringPartsLogsB71A40F6",
            "BatchScoringPartsNumberFunctionLogs7890797F",
            "BatchScoringPartsPlanFunctionLogsFD8EE31A",
            "BatchScoringPartsScoreFunctionLogs1D13A01C",
            "BatchScoringPartsSplitFunctionLogs1FA0164D",
            "BatchScoringScorerLogs80ED3C2C",
            "DriftCheckerLogsAF8DE00A",
            "FeedbackIntakeLogs3D680BFD",
            "IngestionIngestLogs7A5B02E5",
            "PerformanceCheckerLogs7E6B4DF5",
            "RegistryApiHandlerLogsE50E1B36",
            "ServingAccessLogs4DF8B9CD",
            "ServingHealthLogsB5418C59",
            "ServingPredictLogsD1132C3C",
            "TrainingEvaluateFunctionLogs8BAE7F54",
            "TrainingExportFunctionLogsADD82B04",
            "TrainingFargateFitLogs90E0F37E",
            "TrainingFitCandidateFunctionLogs9E447696",
            "TrainingFitTaskOutcomeFunctionLogs92BF63E0",
            "TrainingGateFunctionLogsB61C7038",
            "TrainingLogsE5993150",
            "TrainingParityFunctionLogsA174F9C8",
            "TrainingPrepareFunctionLogs71378F6A",
            "TrainingRecordFailureFunctionLogs759E7BEA",
            "TrainingRegisterFunctionLogsD729B13F",
            "TrainingScoreChampionFunctionLogs8C99C603",
            "ValidationBucketRepeatsFunctionLogsE350708F",
            "ValidationCheckPartFunctionLogs112F4090",
            "ValidationCutFunctionLogsDF1D8120",
            "ValidationLogsB74CE65E",
            "ValidationPlanFunctionLogs7DEA17E4",
            "ValidationReadSliceFunctionLogs9BCDFF2B",
            "ValidationRecordFailureFunctionLogsA59341A3",
            "ValidationReduceFunctionLogs66611E6C",
        }
    ),
    # Identities clients hold: the API's URL, the prediction key's value, the runs' (and validations')
    # execution history.
    "AWS::ApiGateway::RestApi": frozenset({"ServingApi486100ED"}),
    "AWS::StepFunctions::StateMachine": frozenset(
        {"BatchScoringPartsStateMachine9A88ED5C", "TrainingPipeline6C07D285", "ValidationStateMachineAA08CC43"}
    ),
}


def test_the_prediction_key_keeps_its_logical_id_under_the_rest_front_door(rest_template: dict[str, Any]) -> None:
    """The key exists only under `serving.front_door: rest` (the default function URL needs none), and
    there it is the key clients already hold."""
    assert set(tq.resources(rest_template, "AWS::ApiGateway::ApiKey")) == {"ServingApiPredictionKeyFE74C049"}


@pytest.mark.parametrize("resource_type", sorted(PINNED))
def test_stateful_resources_keep_their_logical_ids(platform_template: dict[str, Any], resource_type: str) -> None:
    found = set(tq.resources(platform_template, resource_type))
    assert found == PINNED[resource_type], (
        f"{resource_type}: gone {sorted(PINNED[resource_type] - found)}, new {sorted(found - PINNED[resource_type])}. "
        "A changed logical id replaces the resource on the next deploy; keep the construct path, or pin a "
        "genuinely new resource here."
    )
