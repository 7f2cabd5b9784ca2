"""Evaluation: the `kefu eval ...` contract. Streams JSONL data sets (any file in the documented
formats, rejecting a malformed line by its number), runs the understanding components on them
and returns flat metric dicts that the CLI prints as a table and as one JSON line."""
