"""The batch runner process (``python -m batch_runner``): delivers NDJSON batch records to HTTP endpoints.

    http     a lean keep-alive HTTP/1.1 client (connection pool per origin)
    work     one batch inside one process: fetch, deliver, retry, report (exact counts)
    runner   the process: batch discovery, runner heartbeats, shares of each batch's concurrency
"""
