#!/usr/bin/env python3
"""A loopback stand-in for Anthropic's Messages API, for the tests that run the real Claude Code
CLI offline (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT).

usage: fake_anthropic.py --port-file FILE [--log FILE] [--reply TEXT] [--pieces N] [--pause S]

POST /v1/messages answers with `--reply` (default: a short plan). With "stream": true it sends
the server-sent events Anthropic documents, in their order: message_start, content_block_start,
ping, content_block_delta (the reply cut into `--pieces` text_delta pieces, `--pause` seconds
between them, so a viewer can see the text arrive while the model "speaks"), content_block_stop,
message_delta (stop_reason, usage), message_stop. Without it, one JSON message. Requests whose
answer the CLI only needs in the background (titles, topic checks: a small max_tokens or no
tools) get the same text at once. POST /v1/messages/count_tokens answers a count; anything
else is 404 in the API's error shape. Each request is logged to `--log` as one JSON line
{"t", "path", "stream", "model", "max_tokens", "last_user_text", "x_api_key"}: the key the CLI sent
is recorded so a test can check it came from the session's secret.

Binds 127.0.0.1 only, port 0 (chosen by the kernel, written to --port-file once listening).
Stdlib only.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOG_LOCK = threading.Lock()
COUNTER = [0]


def log_request(entry):
    if not ARGS.log:
        return
    with LOG_LOCK:
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def last_user_text(body):
    """The text of the last user message: what the person typed (or -p's prompt)."""
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        texts = [c.get("text", "") for c in content or [] if isinstance(c, dict) and c.get("type") == "text"]
        # the CLI puts reminders in <system-reminder> blocks before the typed text
        texts = [t for t in texts if not t.lstrip().startswith("<system-reminder>")]
        return texts[-1] if texts else ""
    return ""


def split_pieces(text, n):
    n = max(1, min(n, len(text)))
    size = -(-len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON log says what matters
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_fake_%d" % COUNTER[0])
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "no such path"}})

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?")[0]
        COUNTER[0] += 1
        log_request({"t": time.time(), "path": path, "stream": bool(body.get("stream")),
                     "model": body.get("model"), "max_tokens": body.get("max_tokens"),
                     "last_user_text": last_user_text(body) if path == "/v1/messages" else None,
                     "x_api_key": self.headers.get("x-api-key")})
        if path == "/v1/messages/count_tokens":
            self.send_json(200, {"input_tokens": 42})
            return
        if path != "/v1/messages":
            self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "no such path"}})
            return
        # the conversation's own answer: streamed slowly. Side requests (a title, a topic
        # check: few tokens, no tools) answer at once so they never hold the test up.
        main = bool(body.get("tools")) or (body.get("max_tokens") or 0) >= 1024
        text = ARGS.reply if main else "Plan"
        model = body.get("model") or "claude-fake"
        msg_id = "msg_fake_%d" % COUNTER[0]
        if not body.get("stream"):
            self.send_json(200, {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                                 "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                                 "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": len(text.split())}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", "req_fake_%d" % COUNTER[0])
        self.end_headers()
        self.close_connection = True

        def event(name, data):
            self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
            self.wfile.flush()

        try:
            event("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 1}}})
            event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})
            event("ping", {"type": "ping"})
            pieces = split_pieces(text, ARGS.pieces if main else 1)
            for i, piece in enumerate(pieces):
                if main and i:
                    time.sleep(ARGS.pause)
                event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": piece}})
            event("content_block_stop", {"type": "content_block_stop", "index": 0})
            event("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                    "usage": {"output_tokens": len(text.split())}})
            event("message_stop", {"type": "message_stop"})
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--reply", default="PLAN-BEGIN\nStep 1: read the workspace.\nStep 2: list the "
                   "risks.\nStep 3: propose the changes.\nPLAN-END")
    p.add_argument("--pieces", type=int, default=6)
    p.add_argument("--pause", type=float, default=0.4)
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
