"""The command of the ECS tests' task: what a container does, reduced to three behaviours.

python -m tests.localcloud.ecs_task_probe write BUCKET KEY   # put an object with the task role, exit 0
python -m tests.localcloud.ecs_task_probe exit CODE          # print, then exit with CODE
python -m tests.localcloud.ecs_task_probe allocate MIB       # print, then fill MIB of memory
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    action, *args = argv
    print(f"probe {action} starting in {os.environ.get('AWS_EXECUTION_ENV')}", flush=True)
    if action == "write":
        import boto3

        bucket, key = args
        body = f"written by {os.environ.get('PROBE_WRITER', 'nobody')}".encode()
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        print(f"wrote s3://{bucket}/{key}", flush=True)
        return 0
    if action == "exit":
        print("failing on purpose", file=sys.stderr, flush=True)
        return int(args[0])
    if action == "allocate":
        held = [b"x" * (1024 * 1024) for _ in range(int(args[0]))]  # touched pages: resident memory
        print(f"allocated {len(held)} MiB", flush=True)
        return 0
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
