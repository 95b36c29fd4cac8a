"""DynamoDB as callers rely on it: each request atomic, and a Map's empty key read back as stored.

What moto lacks: moto's in-memory backend mutates shared dicts without a lock, so racing conditional
writes can both win or crash (`atomicity`); its response serializer drops a Map entry whose key is
the empty string, so every later read of such an item fails (`map_keys`).

How it is installed: `install()` wraps moto's DynamoDB backend operations in one lock and replaces
its Map serializer (both idempotent); `uninstall()` restores them. Tests that use moto's DynamoDB
without a local cloud install `atomicity` alone.
"""

from localcloud.dynamodb import atomicity, map_keys


def install() -> None:
    atomicity.install()
    map_keys.install()


def uninstall() -> None:
    atomicity.uninstall()
    map_keys.uninstall()


__all__ = ["atomicity", "install", "map_keys", "uninstall"]
