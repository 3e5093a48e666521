"""Plain-data twins of protocol models: validate into dicts, serialise with orjson.

A screen pop is a tree of small models (``Pop``, its customer card, interactions, cases, script,
articles). Validating a CRM's answer into that tree and dumping it again costs ~25 us per offer;
in a burst of 1,000 pops that is most of the console's own work (bench/screen_pop.py). The hub's
hot path (an offer frame) therefore validates into plain dicts and serialises them with orjson:

* ``plain_validator(Model)`` derives, from ``Model``'s own pydantic core schema, a validator that
  does exactly what ``Model.model_validate`` does -- the same coercions, defaults, limits, unknown
  keys dropped (each model's ``extra``) -- but outputs dicts (nested models too), in field order.
  So ``plain_validator(M).validate_python(x) == M.model_validate(x).model_dump()`` for every ``x``,
  and one definition of the protocol stays the source of truth (tests/unit/console/test_plain.py
  checks the equality on full, partial, coercible and invalid pops).
* It refuses (``TypeError`` at import) any schema it cannot copy faithfully: validators and custom
  serialisers, aliases, computed fields, and types orjson would write differently from pydantic
  (datetimes, bytes, decimals ...). A change to ``Pop`` that needs one of these fails loudly here
  instead of changing the frames.
* ``dumps`` writes what ``model_dump_json`` writes for such data, UTF-8 encoded (same bytes:
  compact, NaN and infinities as null); an integer past 64 bits (orjson refuses it) falls back to
  ``json``. Bytes, because the socket wants UTF-8 (agent_console/wire.py).

The snapshot (``hello``) and the REST views still use the models; the hub builds them from the
plain data when something reads them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

# Core schema types copied as they are: their validated values are what orjson writes like pydantic.
_SCALARS = frozenset({"str", "int", "float", "bool", "none", "literal"})
_CONTAINERS = frozenset({"nullable", "list", "dict", "union", "default", "definitions", "definition-ref"})
# Keys of a schema that never change how a value is validated or written.
_NEUTRAL = frozenset({"metadata", "ref"})


def plain_validator(model: type[BaseModel], *, passthrough: Iterable[str] = ()) -> SchemaValidator:
    """A validator like ``model.model_validate`` that outputs plain dicts (see the module doc).

    ``passthrough``: top-level fields taken as they are (``any``), e.g. a part validated already.
    """
    return SchemaValidator(_plain(model.__pydantic_core_schema__, frozenset(passthrough)))


def _plain(schema: Any, passthrough: frozenset[str] = frozenset()) -> Any:
    kind = schema.get("type")
    if "serialization" in schema:
        raise TypeError(f"plain_validator: a custom serialiser ({kind}) would not be applied by orjson")
    if kind == "model":
        return _typed_dict(schema, passthrough)
    if kind in _SCALARS:
        return schema
    if kind not in _CONTAINERS:
        raise TypeError(f"plain_validator: core schema {kind!r} is not supported (validators, aliases, types "
                        "orjson writes unlike pydantic): keep such a model off the plain path")
    out = dict(schema)
    for key in ("schema", "items_schema", "keys_schema", "values_schema"):
        if key in out:
            out[key] = _plain(out[key])
    if "choices" in out:
        out["choices"] = [_plain(c[0]) if isinstance(c, tuple) else _plain(c) for c in out["choices"]]
        if any(isinstance(c, tuple) for c in schema["choices"]):
            raise TypeError("plain_validator: labelled union choices are not supported")
    if "definitions" in out:
        out["definitions"] = [_plain(d) for d in out["definitions"]]
    return out


def _typed_dict(schema: dict[str, Any], passthrough: frozenset[str]) -> dict[str, Any]:
    inner = schema["schema"]
    if (set(schema) - _NEUTRAL - {"type", "cls", "schema", "config", "custom_init", "root_model", "post_init"}
            or schema.get("custom_init") or schema.get("root_model") or schema.get("post_init")
            or inner.get("type") != "model-fields" or inner.get("computed_fields")
            or set(inner) - _NEUTRAL - {"type", "fields", "model_name", "computed_fields"}):
        raise TypeError(f"plain_validator: model {schema.get('cls')!r} has parts a dict cannot copy")
    config = schema.get("config") or {}
    fields: dict[str, Any] = {}
    for name, field in inner["fields"].items():
        if field.get("type") != "model-field" or set(field) - _NEUTRAL - {"type", "schema"}:
            raise TypeError(f"plain_validator: field {name!r} has an alias, exclusion or validator")
        sub = cs.any_schema() if name in passthrough else _plain(field["schema"])
        fields[name] = cs.typed_dict_field(sub, required=field["schema"].get("type") != "default"
                                           and name not in passthrough)
    return dict(cs.typed_dict_schema(fields, extra_behavior=config.get("extra_fields_behavior", "ignore"),
                                     config=config, ref=schema.get("ref")))  # type: ignore[arg-type]


def dumps(data: Any) -> bytes:
    """Compact JSON of plain data in UTF-8, as ``model_dump_json`` writes it (NaN and infinities: null)."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:  # an integer past 64 bits
        return json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data
