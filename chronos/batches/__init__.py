"""NDJSON batches delivered to an HTTP endpoint (issue 6; the Go Chronos service's ``/run``).

    model    the configuration line, record lines, per-record result slots
    submit   streaming submission into Redis (constant memory)
    store    create / seal / cancel / retry-failed, and the reads the API serves
    stats    latency histogram, percentiles and the batch summary
    lua      the scripts that make every state change atomic (exact counts)

The runner process that delivers the records is ``batch_runner`` (``python -m batch_runner``).
"""
