"""Background jobs on a real queue (dramatiq): Redis-backed across processes, in-process in
embedded mode. See `queue` for the choice and the guarantees, `runner` for the jobs."""

from kefu.jobs.runner import JOBS_GRACE_S, Jobs

__all__ = ["JOBS_GRACE_S", "Jobs"]
