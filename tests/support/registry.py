"""A minimal Confluent-compatible schema registry for tests.

No Confluent-compatible registry installs from the registries this project can
reach (Confluent's is not on Maven Central, Karapace is not on PyPI), so the tests
of the Confluent framing use this stand-in. It implements only the two calls the
client makes: register a schema under a subject, and fetch a schema by id.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SchemaRegistry:
    def __init__(self) -> None:
        self.schemas: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if not re.match(r"^/subjects/[^/]+/versions", self.path):
                    return self._send(404, {"error_code": 404, "message": "not found"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                schema = body["schema"]
                if schema not in registry.schemas:
                    registry.schemas.append(schema)
                return self._send(200, {"id": registry.schemas.index(schema) + 1})

            def do_GET(self) -> None:
                m = re.match(r"^/schemas/ids/(\d+)", self.path)
                if not m or not 0 < int(m.group(1)) <= len(registry.schemas):
                    return self._send(404, {"error_code": 40403, "message": "Schema not found"})
                return self._send(200, {"schema": registry.schemas[int(m.group(1)) - 1], "schemaType": "AVRO"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SchemaRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
