"""Distributed Map fields moto's ASL grammar cannot read, read aside before moto parses a definition.

moto 5.2.5's parser refuses a definition holding `ItemBatcher`, `InputType: JSONL`, `MaxItems` on an
S3 listing, `ExecutionType: EXPRESS`, `WriterConfig` or a whole-number `ToleratedFailurePercentage`
(CreateStateMachine fails on valid ASL), and
parses the tolerated-failure fields without saying which were written. Here each Distributed Map
state is read first: what the local cloud emulates is taken out and kept as its `MapSettings`, what
it cannot honour is kept as a refusal (the execution then fails naming the field, `map_refusals`),
and the rest goes to moto's parser; the settings are then tied to the parsed Map state and its
item processor, where the run (`map_run`) finds them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

from localcloud.stepfunctions.item_batcher import BatchingError, ItemBatching
from localcloud.stepfunctions.s3_item_reader import JsonLinesTransformer

LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
StatePath = tuple[str, ...]


@dataclass
class MapSettings:
    """What one Distributed Map state asks for beyond what moto's parser keeps."""

    batching: ItemBatching | None = None
    json_lines: bool = False
    listed_max_items: int | None = None  # ReaderConfig.MaxItems on an S3 listing
    count_given: bool = False
    percentage_given: bool = False
    refusals: list[str] = field(default_factory=list)
    result_writer: Any = None  # the parsed ResultWriter, tied in after parsing


_settings: WeakKeyDictionary[Any, MapSettings] = WeakKeyDictionary()


def settings_of(component: Any) -> MapSettings | None:
    """The settings of a parsed Map state or of its item processor; None for an inline Map."""
    return _settings.get(component)


def _is_distributed(state: dict[str, Any]) -> bool:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
    return isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED"


def _definition_states(states: Any, path: StatePath = ()) -> Iterator[tuple[StatePath, dict[str, Any]]]:
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        yield (*path, name), state
        if state.get("Type") == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            if isinstance(processor, dict):
                yield from _definition_states(processor.get("States"), (*path, name))
        elif state.get("Type") == "Parallel":
            for index, branch in enumerate(state.get("Branches") or []):
                if isinstance(branch, dict):
                    yield from _definition_states(branch.get("States"), (*path, name, str(index)))


def _read_reader(state: dict[str, Any], settings: MapSettings) -> None:
    reader = state.get("ItemReader")
    if not isinstance(reader, dict):
        return
    config = reader.get("ReaderConfig")
    if not isinstance(config, dict):
        return
    input_type = config.get("InputType")
    if input_type == "JSONL":
        config["InputType"] = "JSON"  # moto's grammar knows JSON; the lines are read by JsonLinesTransformer
        settings.json_lines = True
    elif input_type in ("MANIFEST", "PARQUET"):
        settings.refusals.append(f"ItemReader.ReaderConfig.InputType {input_type}")
        config["InputType"] = "JSON"
    for name in ("CSVDelimiter", "ManifestType"):
        if name in config:
            settings.refusals.append(f"ItemReader.ReaderConfig.{name}")
            del config[name]
    if "InputType" not in config and reader.get("Resource") == LIST_OBJECTS:
        if "MaxItemsPath" in config:
            settings.refusals.append("ItemReader.ReaderConfig.MaxItemsPath on an S3 listing")
        settings.listed_max_items = config.get("MaxItems")
        del reader["ReaderConfig"]


def _read_map(state: dict[str, Any]) -> MapSettings:
    settings = MapSettings()
    if "ItemBatcher" in state:
        settings.batching = ItemBatching.from_definition(state.pop("ItemBatcher"))
    _read_reader(state, settings)
    if "Iterator" in state:
        settings.refusals.append("Iterator in a Distributed Map (write ItemProcessor)")
    config = (state.get("ItemProcessor") or state["Iterator"])["ProcessorConfig"]
    if config.get("ExecutionType") == "EXPRESS":
        settings.refusals.append("ItemProcessor.ProcessorConfig.ExecutionType EXPRESS")
        config["ExecutionType"] = "STANDARD"
    writer = state.get("ResultWriter")
    if isinstance(writer, dict) and "WriterConfig" in writer:
        settings.refusals.append("ResultWriter.WriterConfig")
        del writer["WriterConfig"]
        if "Resource" not in writer:
            del state["ResultWriter"]
    percentage = state.get("ToleratedFailurePercentage")
    if isinstance(percentage, int) and not isinstance(percentage, bool):
        state["ToleratedFailurePercentage"] = float(percentage)  # moto's grammar takes only a decimal; AWS both
    settings.count_given = "ToleratedFailureCount" in state or "ToleratedFailureCountPath" in state
    settings.percentage_given = "ToleratedFailurePercentage" in state or "ToleratedFailurePercentagePath" in state
    return settings


@dataclass(frozen=True)
class ReadDefinition:
    """A definition with the fields moto cannot parse taken out, and what they asked for."""

    definition: str
    settings: dict[StatePath, MapSettings]


def read_aside(definition: str) -> ReadDefinition:
    """Take each Distributed Map's extra fields out of `definition`; unchanged if it has none."""
    try:
        document = json.loads(definition)
    except ValueError:
        return ReadDefinition(definition, {})  # moto reports the syntax error
    if not isinstance(document, dict):
        return ReadDefinition(definition, {})
    document = copy.deepcopy(document)
    settings: dict[StatePath, MapSettings] = {}
    try:
        for path, state in _definition_states(document.get("States")):
            if state.get("Type") == "Map" and _is_distributed(state):
                settings[path] = _read_map(state)
    except BatchingError as error:
        raise ASLParserException(errors=[str(error)]) from error
    if not settings:
        return ReadDefinition(definition, {})
    return ReadDefinition(json.dumps(document), settings)


def _parsed_states(states: Any, path: StatePath = ()) -> Iterator[tuple[StatePath, Any]]:
    for name, state in states.states.items():
        yield (*path, name), state
        if isinstance(state, StateMap):
            yield from _parsed_states(state.iteration_component._states, (*path, name))
        elif isinstance(state, StateParallel):
            for index, program in enumerate(state.branches.programs):
                yield from _parsed_states(program.states, (*path, name, str(index)))


def tie(program: Any, settings: dict[StatePath, MapSettings]) -> None:
    """Tie each Map state's settings to its parsed state and item processor."""
    for path, state in _parsed_states(program.states):
        found = settings.get(path)
        if found is None or not isinstance(state, StateMap):
            continue
        found.result_writer = state.result_writer
        if found.json_lines and state.item_reader is not None:
            state.item_reader.resource_output_transformer = JsonLinesTransformer()
        _settings[state] = found
        _settings[state.iteration_component] = found


_original_parse = AmazonStateLanguageParser.parse


def _parse(definition: str) -> tuple[Any, Any]:
    read = read_aside(definition)
    program, tree = _original_parse(read.definition)
    tie(program, read.settings)
    return program, tree


def install() -> None:
    AmazonStateLanguageParser.parse = staticmethod(_parse)  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    AmazonStateLanguageParser.parse = staticmethod(_original_parse)  # type: ignore[method-assign,assignment]
