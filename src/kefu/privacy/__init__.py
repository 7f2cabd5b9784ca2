"""Privacy and security: PII detection and masking, encryption at rest, audit, retention."""
