"""Google's discovery documents (shipped in google-api-python-client) as a request checker.

The fakes route every request through :meth:`Api.check`: a path, method, query parameter or
body field the description does not define, a value of the wrong type, an enum value it does
not list, or a value outside the range its description states is refused with Google's error
body (``{"error": {"code", "message", "status", "details": [BadRequest]}}``). Responses are
checked against the method's response schema with :meth:`Api.check_response`.

Ranges, required fields and date formats live only in the descriptions' prose ("Must be a
number from 1 to 25,000 (inclusive)", "[Required]", "in YYYY-MM-DD format", "Must be greater
than or equal to the start date"); they are read from there, not restated here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import googleapiclient

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
INT32 = (-(2 ** 31), 2 ** 31 - 1)
_RANGE = re.compile(r"from (-?[\d,]+) to (-?[\d,]+)")
_REQUIRED = re.compile(r"^\s*(\[Required\]|Required\.)")


def error_body(code: int, status: str, message: str,
               violations: list[tuple[str, str]] | None = None,
               details: list[dict[str, Any]] | None = None) -> bytes:
    """A Google JSON error body; ``violations`` become a BadRequest detail."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    extra = list(details or [])
    if violations:
        extra.insert(0, {"@type": BAD_REQUEST, "fieldViolations": [
            {"field": name, "description": text} for name, text in violations]})
    if extra:
        error["details"] = extra
    return json.dumps({"error": error}).encode()


class Rejected(Exception):
    """A request the description does not allow: carries the HTTP status and error body."""

    def __init__(self, code: int, status: str, message: str,
                 violations: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = error_body(code, status, message, violations)


@dataclass
class Call:
    """A request the description allows: its method id, path parameters, query and body."""

    method_id: str
    path: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any] | None
    scopes: tuple[str, ...] = ()


@dataclass
class Method:
    """One method of a discovery document."""

    id: str
    http_method: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]


@dataclass
class Api:
    """One discovery document: its methods and schemas."""

    name: str
    doc: dict[str, Any]
    methods: list[Method] = field(default_factory=list)

    @property
    def schemas(self) -> dict[str, Any]:
        """The document's schemas by id."""
        schemas: dict[str, Any] = self.doc["schemas"]
        return schemas

    def check(self, http_method: str, raw_path: str, body: bytes) -> Call:
        """The call ``raw_path`` makes, or Rejected with Google's answer."""
        parts = urlsplit(raw_path)
        path = parts.path.lstrip("/")
        matches = [(m, found) for m in self.methods if (found := m.pattern.match(path))]
        if not matches:
            raise Rejected(404, "NOT_FOUND", f"Method not found: {parts.path}")
        chosen = [(m, found) for m, found in matches if m.http_method == http_method]
        if not chosen:
            raise Rejected(404, "NOT_FOUND", f"Method not found: {http_method} {parts.path}")
        method, found = chosen[0]
        params = method.spec.get("parameters", {})
        path_values = {k: unquote(v) for k, v in found.groupdict().items()}
        self._check_path(method, path)
        query = self._check_query(params, parse_qs(parts.query, keep_blank_values=True))
        payload = None
        request = method.spec.get("request")
        if request is not None:
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise Rejected(400, "INVALID_ARGUMENT",
                               "Invalid JSON payload received. Unexpected token.") from None
            problems: list[tuple[str, str]] = []
            self._check_value(payload, {"$ref": request["$ref"]}, "", problems, top=True)
            if problems:
                raise Rejected(400, "INVALID_ARGUMENT", problems[0][1], problems)
        elif body:
            raise Rejected(400, "INVALID_ARGUMENT", "Invalid JSON payload received. "
                           f"{method.id} takes no request body.")
        return Call(method.id, path_values, query, payload, tuple(method.spec.get("scopes", ())))

    def check_response(self, method_id: str, data: Any) -> list[str]:
        """Where ``data`` breaks the method's response schema (empty: it conforms)."""
        method = next(m for m in self.methods if m.id == method_id)
        problems: list[tuple[str, str]] = []
        self._check_value(data, {"$ref": method.spec["response"]["$ref"]}, "", problems,
                          top=True, response=True)
        return [f"{name}: {text}" for name, text in problems]

    def _check_path(self, method: Method, raw_path: str) -> None:
        # flatPath splits "{+parent}" into segments: match "path" to get the resource names.
        template = re.escape(method.spec["path"]).replace(r"\{", "{").replace(r"\}", "}")
        regex = re.sub(r"\{\+(\w+)\}", r"(?P<\1>.+)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        found = re.match(f"^{regex}$", raw_path)
        for name, spec in method.spec.get("parameters", {}).items():
            if spec.get("location") != "path" or "pattern" not in spec or found is None:
                continue
            value = unquote(found.group(name))
            if not re.match(spec["pattern"], value):
                raise Rejected(400, "INVALID_ARGUMENT", f"Invalid resource name {value!r} for "
                               f"{name}", [(name, f"must match {spec['pattern']}")])

    def _check_query(self, params: dict[str, Any], raw: dict[str, list[str]]) -> dict[str, Any]:
        allowed = {**self.doc.get("parameters", {}),
                   **{k: v for k, v in params.items() if v.get("location") == "query"}}
        out: dict[str, Any] = {}
        for name, values in raw.items():
            spec = allowed.get(name)
            if spec is None:
                raise Rejected(400, "INVALID_ARGUMENT",
                               f"Invalid JSON payload received. Unknown name \"{name}\": "
                               f"Cannot bind query parameter. Field '{name}' could not be "
                               "found in request message.", [(name, "unknown query parameter")])
            if len(values) > 1 and not spec.get("repeated"):
                raise Rejected(400, "INVALID_ARGUMENT", f"Repeated query parameter {name}",
                               [(name, "given more than once")])
            problems: list[tuple[str, str]] = []
            out[name] = self._scalar(values[0], spec, name, problems, from_query=True)
            if problems:
                raise Rejected(400, "INVALID_ARGUMENT", problems[0][1], problems)
        return out

    def _check_value(self, value: Any, spec: dict[str, Any], where: str,
                     problems: list[tuple[str, str]], *, top: bool = False,
                     response: bool = False) -> None:
        if "$ref" in spec:
            spec = {**self.schemas[spec["$ref"]], **{k: v for k, v in spec.items()
                                                      if k != "$ref"}}
        kind = spec.get("type")
        if kind == "object":
            if not isinstance(value, dict):
                problems.append((where, f"Invalid value at '{where}': expected an object"))
                return
            props = spec.get("properties", {})
            extra = spec.get("additionalProperties")
            for key, item in value.items():
                name = f"{where}.{key}" if where else key
                if key in props:
                    self._check_value(item, props[key], name, problems, response=response)
                elif extra is not None:
                    self._check_value(item, extra, name, problems, response=response)
                else:
                    problems.append((name, f"Invalid JSON payload received. Unknown name "
                                           f"\"{key}\" at '{where or 'body'}': Cannot find "
                                           "field."))
            if not response:
                self._cross_checks(value, props, where, problems)
            return
        if kind == "array":
            if not isinstance(value, list):
                problems.append((where, f"Invalid value at '{where}': expected a list"))
                return
            for index, item in enumerate(value):
                self._check_value(item, spec.get("items", {}), f"{where}[{index}]", problems,
                                  response=response)
            return
        self._scalar(value, spec, where, problems)

    def _scalar(self, value: Any, spec: dict[str, Any], where: str,
                problems: list[tuple[str, str]], *, from_query: bool = False) -> Any:
        kind, fmt = spec.get("type"), spec.get("format")
        text = spec.get("description", "")
        if kind == "integer" or (kind == "string" and fmt in ("int64", "uint64")
                                 and from_query):
            number = _integer(value, from_query or kind == "string")
            if number is None:
                problems.append((where, f"Invalid value at '{where}' ({fmt or kind}), "
                                        f"{json.dumps(value)}"))
                return value
            low, high = INT32 if fmt == "int32" else (-(2 ** 63), 2 ** 63 - 1)
            if found := _RANGE.search(text):
                low, high = (int(found.group(i).replace(",", "")) for i in (1, 2))
            elif "non-negative" in text:
                low = 0
            if not low <= number <= high:
                problems.append((where, f"Invalid value at '{where}': {number} is outside "
                                        f"{low:,} to {high:,}"))
            return number
        if kind == "string" and fmt == "int64":
            if not isinstance(value, str) or _integer(value, True) is None:
                problems.append((where, f"Invalid value at '{where}' (int64 as a string), "
                                        f"{json.dumps(value)}"))
            return value
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append((where, f"Invalid value at '{where}' (number), "
                                        f"{json.dumps(value)}"))
            return value
        if kind == "boolean":
            if from_query:
                if value not in ("true", "false"):
                    problems.append((where, f"Invalid value at '{where}' (bool), {value}"))
                return value == "true"
            if not isinstance(value, bool):
                problems.append((where, f"Invalid value at '{where}' (bool), "
                                        f"{json.dumps(value)}"))
            return value
        if not isinstance(value, str):
            problems.append((where, f"Invalid value at '{where}' (string), {json.dumps(value)}"))
            return value
        if "enum" in spec and value not in spec["enum"]:
            problems.append((where, f"Invalid value at '{where}' (enum), \"{value}\""))
        elif "YYYY-MM-DD format" in text and _day(value) is None:
            problems.append((where, f"Invalid value at '{where}': \"{value}\" is not a date "
                                    "in YYYY-MM-DD format"))
        elif fmt == "google-datetime" and not re.match(
                r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value):
            problems.append((where, f"Invalid value at '{where}' (google-datetime), {value}"))
        return value

    def _cross_checks(self, value: dict[str, Any], props: dict[str, Any], where: str,
                      problems: list[tuple[str, str]]) -> None:
        for key, spec in props.items():
            text = spec.get("description", "")
            name = f"{where}.{key}" if where else key
            if _REQUIRED.match(text) and key not in value:
                problems.append((name, f"Required field '{name}' is missing."))
            other = re.search(r"greater than or equal to the (\w+) date", text)
            if other and key in value:
                low_key = next((k for k in props if k.lower() == f"{other.group(1)}date"), None)
                low = _day(value.get(low_key)) if low_key else None
                high = _day(value[key])
                if low is not None and high is not None and high < low:
                    problems.append((name, f"'{name}' {value[key]} is before '{low_key}' "
                                           f"{value[low_key]}."))


def _integer(value: Any, text_ok: bool) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if text_ok and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _methods(resources: dict[str, Any]) -> list[Method]:
    out: list[Method] = []
    for resource in resources.values():
        for spec in resource.get("methods", {}).values():
            regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(spec["flatPath"])
                           .replace(r"\{", "{").replace(r"\}", "}"))
            out.append(Method(spec["id"], spec["httpMethod"], re.compile(f"^{regex}$"), spec))
        out.extend(_methods(resource.get("resources", {})))
    return out


@cache
def load(name: str) -> Api:
    """The discovery document ``name`` (e.g. ``searchconsole.v1``) from the installed client."""
    doc = json.loads((DOCUMENTS / f"{name}.json").read_text())
    return Api(name, doc, _methods(doc.get("resources", {})))

