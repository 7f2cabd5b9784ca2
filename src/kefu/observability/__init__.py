"""Operations telemetry: Prometheus metrics and structured logs.

`metrics` counts and times what the service does (requests, customer messages, model stages,
handoffs, background jobs) and renders /metrics, in one process or aggregated over a
pre-forking server's workers; `collectors` reads queue depths at scrape time; `timing` times
model calls without touching the models; `logs` carries the request and conversation ids and
writes one JSON object per line. Nothing here imports the web framework (`kefu.api.observability`
wires it into the app), and `prometheus_client` is imported only when a metric is first used,
so `prepare_multiprocess` can still switch it to shared files before that.
"""
