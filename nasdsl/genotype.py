"""Genotype: one point of a search space, decision name -> value."""

from __future__ import annotations

import json
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import GenotypeError

JSONValue = Union[str, int, float, list[str]]


class Genotype(BaseModel):
    """Decision name -> value; the file format a user keeps and shares.

    ``Space.validate(genotype)`` checks it against a space; ``to_json`` /
    ``from_json`` round-trip it.  The JSON form is ``{"space": ..., "values": {...}}``;
    a bare ``{decision: value}`` object is read too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: str = ""
    values: dict[str, JSONValue]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __hash__(self) -> int:
        return hash(json.dumps(self.values, sort_keys=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Genotype):
            return NotImplemented
        return self.values == other.values

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps({"space": self.space, "values": self.values}, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "Genotype":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise GenotypeError(f"genotype is not valid JSON: {e}") from None
        except RecursionError:
            raise GenotypeError("genotype JSON is nested too deeply (a genotype is decision -> value)") from None
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Any) -> "Genotype":
        if isinstance(data, dict) and "values" in data and isinstance(data["values"], dict):
            payload = {"space": data.get("space", ""), "values": data["values"]}
        elif isinstance(data, dict):
            payload = {"values": data}
        else:
            raise GenotypeError("a genotype is a JSON object of decision -> value")
        try:
            return cls.model_validate(payload)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise GenotypeError(f"bad genotype at '{where}': {first.get('msg')}") from None
