"""The model registry: one DynamoDB table of model versions, aliases (champion, challenger) and
their rollout, runs, drift results and the audit trail; the limits on what callers may write, and
how records are shown (plain JSON, the model card). boto3 and the standard library only: the
registry API function carries no ML libraries."""
