"""``with_structured_output`` for local servers: the method each server can honour.

``json_schema`` sends ``response_format`` (translated per server by the protocol: LM Studio
takes only ``json_schema``, llama-cpp-python only ``json_object`` with a schema);
``function_calling`` binds the schema as the one tool and names it in ``tool_choice``;
``json_mode`` asks for any JSON object. Output is validated with pydantic where the schema
is a pydantic class, and a parse failure raises ``OutputParserException`` naming the schema
(or, with ``include_raw=True``, is returned as ``parsing_error`` beside the raw message).
"""

from __future__ import annotations

import json
from functools import partial
from operator import itemgetter
from typing import Any, Literal

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputKeyToolsParser, JsonOutputParser, PydanticToolsParser
from langchain_core.output_parsers.pydantic import PydanticOutputParser
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

from orbit_local.facts.providers import ProviderProfile

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]


def default_method(profile: ProviderProfile) -> StructuredMethod:
    """The most reliable method this server honours (constrained decoding first)."""
    if profile.json_schema or profile.json_object:
        return "json_schema"
    if profile.tool_calling:
        return "function_calling"
    return "json_schema"  # the schema in the prompt, validated on the way back


def detected_structured(
    model: Any, schema: dict[str, Any] | type, *, include_raw: bool, strict: bool | None
) -> Runnable[LanguageModelInput, Any]:
    """For ``provider="auto"``: choose the method once the server is known, on the first call.

    Choosing at build time would mean a blocking request inside ``with_structured_output``;
    instead the first ``invoke`` (or ``ainvoke``, without blocking the loop) detects the
    server, and the chain for its profile is built then and reused. ``RunnableLambda`` runs
    (and streams) the chain its function returns.
    """
    chains: dict[str, Runnable[LanguageModelInput, Any]] = {}

    def chain_for(profile: ProviderProfile) -> Runnable[LanguageModelInput, Any]:
        if profile.name not in chains:
            chains[profile.name] = build_structured(
                model, schema, method=default_method(profile), include_raw=include_raw, strict=strict
            )
        return chains[profile.name]

    def pick(_: Any) -> Runnable[LanguageModelInput, Any]:
        return chain_for(model.detect_provider())

    async def apick(_: Any) -> Runnable[LanguageModelInput, Any]:
        return chain_for(await model.adetect_provider())

    return RunnableLambda(pick, afunc=apick, name="StructuredOutputForDetectedServer")


def _is_pydantic(schema: Any) -> bool:
    """A pydantic class, v2 or the v1 compatibility API (``pydantic.v1.BaseModel``)."""
    return isinstance(schema, type) and is_basemodel_subclass(schema)


def _with_json_instructions(model: Any, json_schema: dict[str, Any] | None, value: Any) -> list[BaseMessage]:
    """The input as messages, with an instruction to answer in JSON (after any system prompt)."""
    messages = list(model._convert_input(value).to_messages())
    instruction = "Answer with one JSON object and nothing else."
    if json_schema is not None:
        instruction += f" It must match this JSON schema:\n{json.dumps(json_schema)}"
    position = 1 if messages and isinstance(messages[0], SystemMessage) else 0
    messages.insert(position, SystemMessage(instruction))
    return messages


def build_structured(
    model: Any,
    schema: dict[str, Any] | type,
    *,
    method: StructuredMethod,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, Any]:
    """The runnable ``model.with_structured_output(schema, ...)`` returns."""
    pydantic_schema = _is_pydantic(schema)
    parser: Runnable[Any, Any]
    if method == "function_calling":
        tool = convert_to_openai_tool(schema, strict=strict)
        name = tool["function"]["name"]
        bound = model.bind_tools(
            [tool], tool_choice=name, ls_structured_output_format={"kwargs": {"method": method}, "schema": tool}
        )
        if pydantic_schema:
            parser = PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
        else:
            parser = JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
    elif not (model.provider_profile.json_schema or model.provider_profile.json_object):
        # No JSON mode on this server (GPT4All, FastChat, KoboldAI): the schema goes into the
        # prompt, and the answer is parsed and validated like any other.
        json_schema = convert_to_json_schema(schema) if method == "json_schema" or pydantic_schema else None
        bound = RunnableLambda(partial(_with_json_instructions, model, json_schema)) | model.bind(
            ls_structured_output_format={"kwargs": {"method": "prompt"}, "schema": schema}
        )
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic_schema else JsonOutputParser()  # type: ignore[arg-type]
    else:
        if method == "json_schema":
            json_schema = convert_to_json_schema(schema)
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "output"), "schema": json_schema},
            }
            if strict is not None:
                response_format["json_schema"]["strict"] = strict
        elif method == "json_mode":
            response_format = {"type": "json_object"}
        else:
            raise ValueError(
                f"Unknown structured output method {method!r}: use json_schema, function_calling or json_mode"
            )
        bound = model.bind(
            response_format=response_format,
            ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
        )
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic_schema else JsonOutputParser()  # type: ignore[arg-type]
    if not include_raw:
        chain: Runnable[LanguageModelInput, Any] = bound | parser
        return chain
    parse = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    fallback = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=bound) | parse.with_fallbacks([fallback], exception_key="parsing_error")
