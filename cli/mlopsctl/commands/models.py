"""`mlops models`, `promote`, `rollback` and `report`: the model registry read and changed through
its API, and a model's lifecycle report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlopsctl.commands import EXIT_OK, CommandError, deployment_target, emit
from mlopsctl.datasets import used_version_line
from mlopsctl.target import Target


def _state(value: dict[str, Any] | None) -> str:
    from mlops.registry.views import audit_state

    return audit_state(value)


def _metrics_text(metrics: dict[str, Any], metric: str | None) -> str:
    """The selection metric first, then the rest by name (the registry's map has no order)."""
    from mlops.registry.views import ordered_metrics

    return ", ".join(
        f"{k}={metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}"
        for k in ordered_metrics(metrics, metric)
        if metrics[k] is not None
    )


def _tags_text(tags: Any) -> str:
    """`tags: owner=ml, stage=beta` (keys in order: the registry's map has none), or nothing."""
    if not isinstance(tags, dict) or not tags:
        return ""
    return "tags: " + ", ".join(f"{k}={tags[k]}" for k in sorted(tags))


def _version_line(v: dict[str, Any], metric: str | None = None) -> str:
    metrics = _metrics_text(v.get("metrics") or {}, metric)
    tags = _tags_text(v.get("tags"))
    line = f"  v{v['version']:<4} {v['status']:<17} {v.get('created_at', '')[:19]}  {v.get('estimator', '')}  {metrics}"
    return line + (f"  {tags}" if tags else "")


def parse_tags(arguments: list[str]) -> dict[str, str]:
    """`key=value` arguments as tags, refused before any call when the API would refuse them (its
    rules are `mlops.registry.limits.tag_problems`), the message naming the argument. The value is
    everything after the first `=`, so a value may hold `=` but a key given here cannot."""
    from mlops.registry.limits import tag_problems

    tags: dict[str, str] = {}
    for argument in arguments:
        key, equals, value = argument.partition("=")
        if not equals:
            raise CommandError(f"tag {argument!r}: expected key=value")
        if not key:
            raise CommandError(f"tag {argument!r}: the key is empty")
        if key in tags:
            raise CommandError(f"tag {argument!r}: {key} is given twice")
        if problems := tag_problems({key: value}):
            raise CommandError(f"tag {argument!r}: {problems[0]}")
        tags[key] = value
    if problems := tag_problems(tags):  # the count
        raise CommandError(f"tags: {problems[0]}")
    return tags


def _carries(version: dict[str, Any], tags: dict[str, str]) -> bool:
    held = version.get("tags")
    return isinstance(held, dict) and all(held.get(k) == v for k, v in tags.items())


def tagged_versions(target: Target, name: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    """The model's versions carrying every one of `tags`, newest first. The API filters on one tag
    and within a page, so every page is read and the tags are matched here."""
    from mlopsctl.api import call

    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(target, "GET", f"/v1/models/{name}/versions", query={"limit": 100, "next_token": token})
        found += [v for v in page["versions"] if _carries(v, tags)]
        token = page.get("next_token")
        if not token:
            return found


def models(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    wanted = parse_tags(getattr(args, "tag", None) or [])  # refused before any call
    tags = parse_tags(args.tags) if args.models_command == "tag" else {}
    if wanted and getattr(args, "version", None):
        raise CommandError("--tag filters a model's version listing; it does not go with --version")
    target = deployment_target(args)
    if args.models_command == "list" and wanted:
        document = call(target, "GET", "/v1/models")
        lines = []
        for m in document["models"]:
            m["versions"] = tagged_versions(target, m["model"], wanted)
            lines += [m["model"], *map(_version_line, m["versions"])] if m["versions"] else []
        lines = lines or [f"no version is tagged {_tags_text(wanted).removeprefix('tags: ')}"]
    elif args.models_command == "list":
        document = call(target, "GET", "/v1/models")
        lines = [f"{m['model']:<24} latest v{m.get('latest_version')}" for m in document["models"]] or ["no models yet"]
    elif args.models_command == "tag":
        document = call(target, "PUT", f"/v1/models/{args.name}/versions/{args.version}/tags", {"tags": tags})
        lines = [f"{args.name} v{args.version} {_tags_text(document['version'].get('tags')) or 'tags: none'}"]
    elif args.models_command == "show":
        if args.version:
            from mlops.training.start import no_params_text
            from mlopsctl.lifecycle import selection_metric
            from mlopsctl.runs_table import params_text

            document = call(target, "GET", f"/v1/models/{args.name}/versions/{args.version}")
            card = document["model_card"]
            metric = selection_metric(target, document["version"])
            lines = [
                f"{card['model']} v{card['version']} ({card['status']}), {card['estimator']}",
                f"  hyperparameters ({card.get('chosen_candidate') or 'chosen'}): "
                + (params_text(card.get("parameters")) or no_params_text(card.get("estimator"))),
                f"  data: {card['training_data']['dataset']} @ {str(card['training_data']['dataset_version'])[:12]}",
                *[used_version_line(v) for v in card["lineage"].get("dataset_versions", [])],
                f"  run: {card['lineage']['training_run']}, code {card['lineage']['code_version']}",
                *[
                    f"  imported: {file.get('file_name')} ({file.get('format')}, sha256 {file.get('sha256')})"
                    for file in [card["lineage"].get("imported_file") or {}]
                    if file
                ],
                "  metrics: " + _metrics_text(card["evaluation"], metric),
                *_importance_lines(card.get("feature_importance")),
                *[f"  {tags}" for tags in [_tags_text(document["version"].get("tags"))] if tags],
                *[f"  {'✓' if g['passed'] else '✗'} {g['detail']}" for g in card["quality_gates"]],
            ]
        else:
            document = call(target, "GET", f"/v1/models/{args.name}")
            model = document["model"]
            from mlopsctl.lifecycle import selection_metric

            if wanted:
                versions = tagged_versions(target, args.name, wanted)
            else:
                versions = call(target, "GET", f"/v1/models/{args.name}/versions", query={"limit": 20})["versions"]
            aliases = ", ".join(f"{a}=v{item['version']}" for a, item in model["aliases"].items()) or "none"
            metric = selection_metric(target, max(versions, key=lambda v: int(v["version"]))) if versions else None
            lines = [
                f"{args.name}: latest v{model.get('latest_version')}; aliases: {aliases}",
                *[_version_line(v, metric) for v in versions],
            ]
            document["versions"] = versions
    elif args.models_command == "approve":
        document = call(
            target, "POST", f"/v1/models/{args.name}/versions/{args.version}/approve", {"reason": args.reason}
        )
        lines = [f"{args.name} v{args.version} approved: now registered"]
    elif args.models_command == "archive":
        document = call(
            target, "POST", f"/v1/models/{args.name}/versions/{args.version}/archive", {"reason": args.reason}
        )
        lines = [f"{args.name} v{args.version} archived"]
    else:  # audit
        document = call(target, "GET", f"/v1/models/{args.name}/audit")
        lines = [
            f"{e['at'][:19]}  {e['actor'][-28:]:<28} {e['action']:<20} {_state(e.get('before'))} -> "
            f"{_state(e.get('after'))}  {e['reason']}"
            for e in document["events"]
        ]
    emit(args, document, "\n".join(lines))
    return EXIT_OK


def promote(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    body: dict[str, Any] = {"version": args.version, "reason": args.reason}
    if args.expected_version is not None:
        body["expected_version"] = args.expected_version
    alias_name = args.alias
    if args.canary is not None or args.shadow:
        alias_name = args.alias if args.alias != "champion" else "challenger"
        body["rollout"] = {"mode": "shadow"} if args.shadow else {"mode": "canary", "weight": args.canary}
        if args.allow_signature_change:
            body["allow_signature_change"] = True
    target = deployment_target(args)
    held = call(target, "GET", f"/v1/models/{args.name}")["model"].get("aliases", {}).get(alias_name)
    document = call(target, "PUT", f"/v1/models/{args.name}/aliases/{alias_name}", body)
    alias = document["alias"]
    # The registry answers a promotion already in place with the alias as it was, writing nothing:
    # the same version and the same last change mean this command changed nothing.
    unchanged = held is not None and all(held.get(k) == alias.get(k) for k in ("version", "updated_at", "rollout"))
    document["changed"] = not unchanged
    if unchanged:
        emit(
            args,
            document,
            f"{args.name} {alias_name}: already v{alias['version']}; nothing changed (no audit event written)",
        )
        return EXIT_OK
    before = alias.get("previous_version")
    rollout = alias.get("rollout")
    how = ""
    if rollout:
        how = (
            " (shadow: scored, never answers)"
            if rollout["mode"] == "shadow"
            else f" (canary: {rollout['weight']} of requests)"
        )
    emit(
        args, document, f"{args.name} {alias_name}: {f'v{before}' if before else '(none)'} -> v{alias['version']}{how}"
    )
    return EXIT_OK


def rollback(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    body: dict[str, Any] = {"reason": args.reason, "alias": args.alias}
    if args.expected_version is not None:
        body["expected_version"] = args.expected_version
    document = call(deployment_target(args), "POST", f"/v1/models/{args.name}/rollback", body)
    alias = document["alias"]
    emit(
        args, document, f"{args.name} {args.alias} rolled back: v{alias.get('previous_version')} -> v{alias['version']}"
    )
    return EXIT_OK


def report(args: argparse.Namespace) -> int:
    """One self-contained HTML page for the model's whole lifecycle."""
    from mlopsctl.api import ApiError
    from mlopsctl.lifecycle import write_lifecycle_report

    target = deployment_target(args)
    path: Path = args.output or Path("reports") / f"{args.name}.html"
    try:
        written = write_lifecycle_report(target, args.name, path)
    except ApiError as error:
        if error.status == 404:
            raise CommandError(
                f"no model named {args.name!r} in the registry (`mlops models list` shows those there are)"
            ) from error
        raise
    document = written.as_document()
    emit(
        args,
        document,
        f"wrote {path} ({document['versions']} version(s), {document['drift_checks']} drift check(s), "
        f"{document['audit_events']} audit event(s))",
    )
    return EXIT_OK


def _importance_lines(importance: dict[str, Any] | None) -> list[str]:
    """The five most important input fields, from the model card (none before it was measured)."""
    if not importance or not importance.get("top"):
        return []
    shown = ", ".join(
        f"{f['feature']} {f['mean']:.3g}" if f.get("mean") is not None else f"{f['feature']} n/a"
        for f in importance["top"][:5]
    )
    return [f"  importance ({importance['metric']}, {importance['bound']}): {shown}"]
