"""Where a candidate's fit runs when it outgrows the fit Lambda: an ECS Fargate task (arm64), started
by the training state machine with `ecs:runTask.sync`.

No Docker build on the deploy machine: the task runs AWS's public Lambda base image for Python 3.12,
pinned by digest (`settings.fit_task_image`; the Lambda runtime's Python and boto3, so the layers
built for the fit Lambda load unchanged), and
its command (`infra/fit_task_bootstrap.py`) downloads the fit Lambda's own code asset and layer assets
from the CDK bootstrap bucket, then runs `handlers.fit_task`.

No NAT gateway: a NAT gateway costs about $32 a month per zone while idle (plus $0.045 per GB it
processes), and S3 interface endpoints, ECR and CloudWatch Logs endpoints cost about $7 a month each
per zone. A VPC of public subnets only, with a security group that allows no inbound traffic, costs
nothing while no task runs; a task gets a public IPv4 address for its life (billed $0.005 an hour)
to reach S3, the image registry and CloudWatch Logs, and nothing can connect to it. The VPC's default
security group keeps no rule (`restrict_default_security_group`).

The task role may do exactly this: read the asset objects it downloads, and read and write objects
under `models/` in the artifacts bucket (the run's artifacts, as the fit Lambda). The execution role
writes the container's logs (and is what ECS uses to pull the image, which needs no grant: the image
is public).
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_objects
from infra.nag import CONCURRENCY_REASON, NO_VPC_REASON, acknowledge, skip_checkov
from infra.paths import PROJECT_ROOT
from mlops.names import FIT_TASK_CONTAINER, FIT_TASK_LOG_PREFIX, MODELS_PREFIX

# The image (`settings.fit_task_image`, AWS's Lambda base image for Python 3.12 pinned by digest;
# multi-architecture, the task's runtime platform picks arm64): /var/lang/bin/python3 is Python 3.12 with
# boto3, first on PATH (aws/aws-lambda-base-images, arm64/Dockerfile.python3.12: `ENV
# PATH=/var/lang/bin:...`). Its ENTRYPOINT (the Lambda runtime client) is replaced by the bootstrap.
FIT_ENTRY_MODULE = "handlers.fit_task"
# CDK's provider behind `restrict_default_security_group` (a fixed id in aws-cdk-lib).
RESTRICT_DEFAULT_SG_PROVIDER_ID = "Custom::VpcRestrictDefaultSGCustomResourceProvider"


def pinned_image(image: str) -> str:
    """`repository@sha256:…`, the form ECS documents for an image by digest ("repository-url/image@digest"),
    from the setting's `repository:tag@sha256:…` (the tag only says where the digest came from)."""
    reference, _, digest = image.partition("@")
    repository = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    return f"{repository}@{digest}"


# The task definition's own size; a run's `fargate.cpu` and `fargate.memory` override it per task.
DEFAULT_CPU = 2048
DEFAULT_MEMORY_MIB = 16384
BOOTSTRAP_SOURCE = (PROJECT_ROOT / "infra" / "fit_task_bootstrap.py").read_text()


def _code_location(function: lambda_.Function) -> tuple[str, str]:
    """The bucket and key of a function's code asset (CDK's bootstrap bucket, as CloudFormation resolves it)."""
    code = function.node.default_child.code  # type: ignore[union-attr]
    return str(code.s3_bucket), str(code.s3_key)


def _layer_location(layer: lambda_.ILayerVersion) -> tuple[str, str]:
    content = layer.node.default_child.content  # type: ignore[union-attr]
    return str(content.s3_bucket), str(content.s3_key)


class FargateFit(Construct):
    """The cluster, network, task definition and roles of the Fargate fit task."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedResources,
        fit_function: lambda_.Function,
        layers: list[lambda_.ILayerVersion],
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Network",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
            # The VPC's default security group loses its default rules (all traffic from itself, all out):
            # nothing uses it, and a resource put in it by mistake can reach nothing (CDK's custom resource).
            restrict_default_security_group=True,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description="Fargate fit tasks: no inbound traffic; outbound HTTPS to S3, the image registry and logs",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs and the image")
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=shared.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Fargate fit task: reads its code and layer assets, reads and writes the run's artifacts",
        )
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Fargate fit task's execution role: writes the container's logs",
        )
        # The fit Lambda's architecture: its layers are built for it.
        arm64 = shared.architecture.name == lambda_.Architecture.ARM_64.name
        cpu_architecture = ecs.CpuArchitecture.ARM64 if arm64 else ecs.CpuArchitecture.X86_64
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=DEFAULT_CPU,
            memory_limit_mib=DEFAULT_MEMORY_MIB,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=cpu_architecture, operating_system_family=ecs.OperatingSystemFamily.LINUX
            ),
            task_role=self.task_role,
            execution_role=self.execution_role,
        )
        locations = [_code_location(fit_function), *(_layer_location(layer) for layer in layers)]
        assets = [f"s3://{bucket}/{key}" for bucket, key in locations]
        self.container = self.task_definition.add_container(
            FIT_TASK_CONTAINER,
            container_name=FIT_TASK_CONTAINER,
            image=ecs.ContainerImage.from_registry(pinned_image(shared.settings.fit_task_image)),
            entry_point=["python3", "-c"],
            command=[BOOTSTRAP_SOURCE],
            environment={
                "FIT_ASSETS": " ".join(assets),
                "FIT_ENTRY_MODULE": FIT_ENTRY_MODULE,
                "ARTIFACTS_BUCKET": shared.data.artifacts.bucket_name,
                # The runtime's boto3 lives under /var/runtime in some Lambda base images.
                "PYTHONPATH": "/var/runtime",
                "PYTHONUNBUFFERED": "1",
            },
            logging=ecs.LogDrivers.aws_logs(stream_prefix=FIT_TASK_LOG_PREFIX, log_group=self.log_group),
            readonly_root_filesystem=False,
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[f"arn:{Aws.PARTITION}:s3:::{bucket}/{key}" for bucket, key in locations],
            )
        )
        grant_objects(self.task_role, shared.data.artifacts, ["s3:GetObject", "s3:PutObject"], f"{MODELS_PREFIX}*")
        self._acknowledge()

    def _acknowledge(self) -> None:
        acknowledge(
            self.vpc,
            "AwsSolutions-VPC7",
            "The VPC carries only short-lived Fargate fit tasks that accept no inbound traffic; flow logs would "
            "record their HTTPS calls to S3 and CloudWatch Logs, which CloudTrail and the S3 access logs record "
            "already, at a cost per GB.",
        )
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The environment holds bucket names, asset locations and a module name, never a secret; the task's "
            "input arrives through an S3 key.",
        )
        provider = Stack.of(self).node.try_find_child(RESTRICT_DEFAULT_SG_PROVIDER_ID)
        if provider is not None:
            handler = provider.node.find_child("Handler")
            deploy_time = (
                "CDK's deploy-time handler that removes the VPC's default security group rules: CloudFormation "
                "invokes it once per deployment and fails that deployment when it does not answer"
            )
            skip_checkov(handler, "CKV_AWS_116", f"{deploy_time}, so a failed event is a stack operation to retry.")
            skip_checkov(handler, "CKV_AWS_115", CONCURRENCY_REASON)
            skip_checkov(handler, "CKV_AWS_117", f"{deploy_time}; it calls only the EC2 API. {NO_VPC_REASON}")
        skip_checkov(
            self.security_group,
            "CKV_AWS_382",
            "Outbound HTTPS only, to AWS service endpoints (S3, CloudWatch Logs) and the public image registry: "
            "the VPC has no NAT gateway or endpoints, so the task reaches them over the internet.",
        )
